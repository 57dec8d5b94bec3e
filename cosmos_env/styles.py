"""Appearance styles of the MuJoCo reference: colours of floor, sky and body, and the light.

A style is a small vector (:data:`STYLE_FIELDS`, 12 numbers) applied as MuJoCo model edits
(:class:`StyleEditor`): the floor's tint (its checker texture times it), the
skybox's tint, the body geoms' colour, and the scene light's direction and intensity.
The physics is never touched: a styled frame shows the same state.

``canonical`` is the task as gymnasium draws it; other presets are named looks; a seeded
``random`` style is drawn from the ``train`` ranges or from ``held_out`` ranges that the
train ranges never reach (for testing robustness to unseen looks).

>>> style = random_style(np.random.default_rng(0))
>>> style.shape
(12,)
"""

from __future__ import annotations

import numpy as np

STYLE_FIELDS = (
    "floor_r",
    "floor_g",
    "floor_b",
    "sky_r",
    "sky_g",
    "sky_b",
    "body_r",
    "body_g",
    "body_b",
    "light_azimuth",
    "light_elevation",
    "light_intensity",
)
"""Floor and sky: tints (1 = as drawn); body: RGB in [0, 1]; light: degrees, and a factor
of its diffuse colour (1 = as drawn)."""

PRESETS: dict[str, tuple[float, ...]] = {
    "canonical": (1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0, 90, 1),
    "dusk": (0.9, 0.6, 0.5, 1.2, 0.6, 0.5, 0.35, 0.3, 0.5, 30, 20, 0.7),
    "snow": (1.3, 1.3, 1.35, 1.3, 1.3, 1.35, 0.2, 0.3, 0.8, -40, 60, 1.2),
    "forest": (0.4, 0.8, 0.4, 0.5, 0.8, 0.6, 0.8, 0.3, 0.2, 60, 45, 0.9),
    "night": (0.3, 0.3, 0.45, 0.15, 0.15, 0.3, 0.9, 0.9, 0.6, 0, 70, 0.5),
}

# (low, high) per field; held-out ranges lie outside the train ranges in colour and light
_TRAIN_RANGES = np.array(
    [(0.5, 1.2)] * 3 + [(0.5, 1.2)] * 3 + [(0.2, 0.9)] * 3 + [(-60, 60), (30, 90), (0.6, 1.2)], dtype=np.float64
)
_HELD_OUT_RANGES = np.array(
    [(1.2, 1.6)] * 3 + [(0.1, 0.5)] * 3 + [(0.9, 1.0)] * 3 + [(60, 90), (10, 30), (1.2, 1.5)], dtype=np.float64
)

SKYBOX = 2  # mjtTexture.mjTEXTURE_SKYBOX


def preset(name: str) -> np.ndarray:
    """A named style (:data:`PRESETS`). Raises ValueError for an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown style {name!r}; presets: {', '.join(PRESETS)} (or 'random', or a vector)")
    return np.array(PRESETS[name], dtype=np.float64)


def random_style(rng: np.random.Generator, split: str = "train") -> np.ndarray:
    """A style drawn uniformly from the ``train`` or ``held_out`` ranges, (12,)."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    ranges = _TRAIN_RANGES if split == "train" else _HELD_OUT_RANGES
    if split == "held_out":  # the colours of one to three parts (floor, sky, body) held out, and the
        # light half the time; the rest from the train ranges: a look never seen as a whole
        mixed = _TRAIN_RANGES.copy()
        parts = list(rng.permutation(3)[: 1 + rng.integers(3)]) + ([3] if rng.random() < 0.5 else [])
        for part in parts:
            rows = slice(3 * part, 3 * part + 3)
            mixed[rows] = _HELD_OUT_RANGES[rows]
        ranges = mixed
    return rng.uniform(ranges[:, 0], ranges[:, 1])


def as_style(style: str | np.ndarray | list | tuple, rng: np.random.Generator | None = None) -> np.ndarray:
    """A style vector from a preset name, ``"random"`` (needs ``rng``) or 12 numbers.
    Raises ValueError for anything else."""
    if isinstance(style, str):
        if style == "random":
            if rng is None:
                raise ValueError("style 'random' needs a random generator (a seeded reset)")
            return random_style(rng)
        return preset(style)
    vector = np.asarray(style, dtype=np.float64)
    if vector.shape != (len(STYLE_FIELDS),) or not np.isfinite(vector).all():
        raise ValueError(f"a style vector has {len(STYLE_FIELDS)} finite numbers {STYLE_FIELDS}, got {style!r}")
    return vector


class StyleEditor:
    """Applies styles to one MuJoCo model (and its renderer's GPU copy of the skybox).

    Keeps the model's original floor material, skybox pixels, body colours and light, so
    any style is applied from the canonical look, never from the previous style."""

    def __init__(self, model, floor_geom: int = 0) -> None:
        self.model = model
        self.floor_geom = floor_geom
        self.body_geoms = np.array([g for g in range(model.ngeom) if g != floor_geom])
        skyboxes = np.flatnonzero(model.tex_type == SKYBOX)
        self.skybox = int(skyboxes[0]) if len(skyboxes) else None
        self._floor_rgba = model.geom_rgba[floor_geom].copy()  # a geom's own colour tints its material's texture
        self._body_rgba = model.geom_rgba[self.body_geoms].copy()
        self._light_dir = model.light_dir.copy()
        self._light_diffuse = model.light_diffuse.copy()
        self._headlight = model.vis.headlight.diffuse.copy()
        if self.skybox is not None:
            start = model.tex_adr[self.skybox]
            size = model.tex_width[self.skybox] * model.tex_height[self.skybox] * model.tex_nchannel[self.skybox]
            self._sky_slice = slice(start, start + size)
            self._sky = model.tex_data[self._sky_slice].copy()

    def apply(self, style: np.ndarray, renderer=None) -> None:
        """Edit the model to ``style`` (12,); with the ``mujoco.Renderer`` that draws this
        model, its GPU copy of the skybox is uploaded again, into that renderer's own GL
        context (made current first: an upload lands in whichever context is current, and
        a process with two renderers would tint the other one's sky)."""
        import mujoco

        m = self.model
        floor, sky, body = style[0:3], style[3:6], style[6:9]
        azimuth, elevation, intensity = np.deg2rad(style[9]), np.deg2rad(style[10]), style[11]
        m.geom_rgba[self.floor_geom, :3] = np.clip(self._floor_rgba[:3] * floor, 0, 1)
        m.geom_rgba[self.body_geoms, :3] = np.clip(body, 0, 1)
        direction = -np.array(
            [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
        )
        m.light_dir[:] = direction
        m.light_diffuse[:] = np.clip(self._light_diffuse * intensity, 0, 1)
        m.vis.headlight.diffuse[:] = np.clip(self._headlight * intensity, 0, 1)
        if self.skybox is not None:
            pixels = self._sky.reshape(-1, 3).astype(np.float64) * sky
            m.tex_data[self._sky_slice] = np.clip(pixels, 0, 255).astype(np.uint8).ravel()
            if renderer is not None:
                if renderer._gl_context is not None:
                    renderer._gl_context.make_current()
                mujoco.mjr_uploadTexture(m, renderer._mjr_context, self.skybox)
