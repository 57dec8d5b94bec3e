"""Pictures a person looks at: depth and segmentation in colour, frame grids, videos."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cosmos_env.data import EpisodeDataset

# Control points of a perceptually ordered dark-to-bright colormap (close to "magma").
_DEPTH_COLORS = np.array([[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]], np.float32)


def colorize_depth(depth: np.ndarray, far: float | None = None) -> np.ndarray:
    """(..., H, W) metres -> (..., H, W, 3) uint8; near is bright, far/background dark.

    ``far`` clips the range; by default the largest depth that is not background
    (background is the camera's far plane, the maximum value).
    """
    depth = np.asarray(depth, np.float32)
    if far is None:
        hit = depth[depth < depth.max()] if np.any(depth < depth.max()) else depth
        far = float(hit.max())
    near = float(depth.min())
    t = 1.0 - np.clip((depth - near) / max(far - near, 1e-6), 0.0, 1.0)
    x = t * (len(_DEPTH_COLORS) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_DEPTH_COLORS) - 2)
    frac = (x - lo)[..., None]
    rgb = _DEPTH_COLORS[lo] * (1 - frac) + _DEPTH_COLORS[lo + 1] * frac
    return rgb.round().astype(np.uint8)


def colorize_segmentation(ids: np.ndarray) -> np.ndarray:
    """(..., H, W) integer ids -> (..., H, W, 3) uint8; 0 (background) is black."""
    ids = np.asarray(ids).astype(np.int64)
    rng = np.random.default_rng(7)
    palette = rng.integers(60, 256, size=(int(ids.max()) + 1, 3)).astype(np.uint8)
    palette[0] = 0
    return palette[ids]


def grid(rows: Sequence[Sequence[np.ndarray]], scale: int = 1, pad: int = 2) -> np.ndarray:
    """Tile equally sized (H, W, 3) uint8 images row by row, with white gaps."""
    height, width = rows[0][0].shape[:2]
    n_cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (height + pad) + pad, n_cols * (width + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = pad + i * (height + pad), pad + j * (width + pad)
            out[y : y + height, x : x + width] = image
    if scale > 1:
        out = out.repeat(scale, axis=0).repeat(scale, axis=1)
    return out


def frame_grid(rgb: np.ndarray, depth: np.ndarray, segmentation: np.ndarray, scale: int = 2) -> np.ndarray:
    """A (3 rows: rgb, depth, segmentation) x (T columns) picture of a clip."""
    return grid(
        [list(rgb), list(colorize_depth(depth)), list(colorize_segmentation(segmentation))],
        scale=scale,
    )


def caption(image: np.ndarray, lines: Sequence[str], scale: int = 4, line_height: int = 14) -> np.ndarray:
    """An (H, W, 3) uint8 image upscaled ``scale`` times with ``lines`` of text in a dark bar below."""
    from PIL import Image, ImageDraw, ImageFont

    big = np.asarray(image).repeat(scale, axis=0).repeat(scale, axis=1)
    bar = Image.new("RGB", (big.shape[1], line_height * len(lines) + 4), (20, 20, 20))
    draw, font = ImageDraw.Draw(bar), ImageFont.load_default(size=line_height - 2)
    for i, line in enumerate(lines):
        draw.text((4, 2 + i * line_height), line, fill=(235, 235, 235), font=font)
    return np.concatenate([big, np.asarray(bar)], 0)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, image)
    return path


def save_video(path: str | Path, frames: Sequence[np.ndarray], fps: int = 30, scale: int = 4) -> Path:
    """Write (H, W, 3) uint8 frames to an MP4 (H.264), upscaled with nearest neighbours."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1, quality=8) as w:
        for frame in frames:
            w.append_data(np.asarray(frame).repeat(scale, axis=0).repeat(scale, axis=1))
    return path


def dataset_preview(episodes: EpisodeDataset, num_episodes: int = 3, frames: int = 8) -> np.ndarray:
    """rgb / depth / segmentation rows for a few episodes, ``frames`` evenly spaced in each."""
    rows = []
    picks = np.linspace(0, len(episodes) - 1, min(num_episodes, len(episodes))).astype(int)
    for i in picks:
        ep = episodes.episode(int(i), ("rgb", "depth", "segmentation"))
        t = np.linspace(0, len(ep["rgb"]) - 1, frames).astype(int)
        depth = ep["depth"][t].astype(np.float32)
        rows += [list(ep["rgb"][t]), list(colorize_depth(depth)), list(colorize_segmentation(ep["segmentation"][t]))]
    return grid(rows, scale=2)
