"""Curation of an episode dataset: drop near-static clips and near-duplicates.

The role NeMo Curator plays for Cosmos, on a small scale. Each episode is cut into clips
of ``clip`` rows; on the tokenizer's latents (normalised per channel over the dataset):

* **motion** of a clip = mean absolute change of its latents from one row to the next;
  a clip moving less than ``static_fraction`` x the dataset's median motion is
  *near-static* (a body lying still after a fall, a cheetah on its back);
* **embedding** of a clip = its latents pooled to 2x2 at its first, middle and last row,
  with its observations (normalised), over the square root of its length; a clip within
  ``duplicate_fraction`` x the median distance between two clips of an earlier clip (in
  dataset order) that was not itself dropped as static is a *near-duplicate*, and only
  the first of such a pair is kept (a chain a~b~c keeps a alone).

An episode's first clip is never dropped: every imagined episode starts from a reset, and
resets are alike by design (MuJoCo's start states differ by small noise), so they would
otherwise all go but one.

The result is a curation file (JSON, written atomically): the kept clip starts of each
episode, what was dropped and why, and the thresholds; training reads it to use only the
windows that start in a kept clip (``stage.curation=...``). The dataset itself is never
changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cosmos_env.data import EpisodeDataset
from worldmodels.io import atomic_write_json, file_sha256

FORMAT = "cosmos-env-curation"


@dataclass(frozen=True)
class CurationSettings:
    clip: int = 8
    """Rows per clip."""
    static_fraction: float = 0.1
    """Clips moving less than this fraction of the median clip motion are dropped."""
    duplicate_fraction: float = 0.05
    """Clips nearer than this fraction of the median distance between two clips to an
    earlier clip are dropped."""

    def __post_init__(self) -> None:
        if self.clip < 2:
            raise ValueError(f"clip must be >= 2 rows, got {self.clip}")
        for name in ("static_fraction", "duplicate_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def clip_features(
    latents: list[np.ndarray], obs: list[np.ndarray], clip: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per clip of ``clip`` rows (whole clips only): (episode, first row) (N, 2), motion (N,)
    and embedding (N, F), from per-episode latents (rows, C, h, w) and obs (rows, D)."""
    flat = np.concatenate([z.reshape(len(z), z.shape[1], -1) for z in latents])  # (R, C, h*w)
    z_mean, z_std = flat.mean((0, 2)), flat.std((0, 2)) + 1e-6
    all_obs = np.concatenate(obs)
    o_mean, o_std = all_obs.mean(0), all_obs.std(0) + 1e-6
    where, motion, embedding = [], [], []
    for e, (z, o) in enumerate(zip(latents, obs)):
        z = torch.from_numpy((np.asarray(z, np.float32) - z_mean[:, None, None]) / z_std[:, None, None])
        o = (np.asarray(o, np.float32) - o_mean) / o_std
        for start in range(0, len(z) - clip + 1, clip):
            part = z[start : start + clip]  # (L, C, h, w)
            motion.append(float((part[1:] - part[:-1]).abs().mean()))
            rows = [0, clip // 2, clip - 1]
            pooled = torch.nn.functional.adaptive_avg_pool2d(part[rows], 2).flatten()  # (3 * C * 4,)
            embedding.append(np.concatenate([pooled.numpy(), o[start + np.array(rows)].ravel()]) / np.sqrt(clip))
            where.append((e, start))
    return np.array(where, np.int64).reshape(-1, 2), np.array(motion), np.array(embedding, np.float32)


def earlier_neighbour_distance(embedding: np.ndarray, usable: np.ndarray, block: int = 2048) -> np.ndarray:
    """For each clip i, the distance to its nearest earlier usable clip j < i (inf for none):
    (N, F), (N,) bool -> (N,)."""
    x = torch.from_numpy(embedding)
    sq = (x * x).sum(1)
    out = np.full(len(x), np.inf)
    for a in range(0, len(x), block):
        rows = slice(a, min(a + block, len(x)))
        d2 = sq[rows, None] + sq[None, : rows.stop] - 2 * x[rows] @ x[: rows.stop].T  # (b, i_max)
        later = torch.arange(rows.start, rows.stop)[:, None] <= torch.arange(rows.stop)[None]
        d2[later | ~torch.from_numpy(usable[: rows.stop])[None]] = float("inf")
        out[rows] = d2.min(1).values.clamp_min(0).sqrt().numpy()
    return out


def typical_distance(embedding: np.ndarray, seed: int = 0) -> float:
    """The median distance between a clip and a random other clip: the scale a
    near-duplicate is judged against (near-duplicates themselves cannot shrink it much)."""
    rng = np.random.default_rng(seed)
    other = (np.arange(len(embedding)) + rng.integers(1, max(len(embedding), 2), len(embedding))) % len(embedding)
    return float(np.median(np.linalg.norm(embedding - embedding[other], axis=1)))


def curate(
    latents: list[np.ndarray], obs: list[np.ndarray], dataset_id: str, settings: CurationSettings = CurationSettings()
) -> dict[str, Any]:
    """The curation record of a dataset (see the module docstring) from its per-episode
    latents (rows, C, h, w) and observations (rows, D). Raises ValueError for a dataset
    with no whole clip."""
    where, motion, embedding = clip_features(latents, obs, settings.clip)
    if not len(where):
        raise ValueError(f"no episode of this dataset has {settings.clip} rows (one clip)")
    first = where[:, 1] == 0  # an episode's start: kept whatever it looks like
    static = (motion < settings.static_fraction * np.median(motion)) & ~first
    typical = typical_distance(embedding)
    near = earlier_neighbour_distance(embedding, ~static) < settings.duplicate_fraction * typical
    duplicate = near & ~static & ~first
    kept = ~static & ~duplicate
    per_episode: dict[str, list[int]] = {str(i): [] for i in range(len(latents))}
    for (e, start), keep in zip(where, kept):
        if keep:
            per_episode[str(int(e))].append(int(start))
    return {
        "format": FORMAT,
        "dataset_id": dataset_id,
        "settings": {
            "clip": settings.clip,
            "static_fraction": settings.static_fraction,
            "duplicate_fraction": settings.duplicate_fraction,
        },
        "thresholds": {
            "median_motion": float(np.median(motion)),
            "static_below": float(settings.static_fraction * np.median(motion)),
            "median_distance": typical,
            "duplicate_below": settings.duplicate_fraction * typical,
        },
        "clips": int(len(where)),
        "dropped": {"static": int(static.sum()), "duplicate": int(duplicate.sum())},
        "kept_clips": int(kept.sum()),
        "kept": per_episode,
        "examples": {
            "static": [[int(e), int(s)] for e, s in where[static][:8]],
            "duplicate": [[int(e), int(s)] for e, s in where[duplicate][:8]],
        },
    }


def strip(episodes: EpisodeDataset, clips: list[list[int]], clip: int, frames: int = 4) -> np.ndarray:
    """A picture of clips: one row per (episode, start), ``frames`` of its frames evenly
    spread, (rows * H, frames * W, 3) uint8."""
    rows = []
    for e, start in clips:
        picks = np.linspace(start, start + clip - 1, frames).round().astype(int)
        rgb = episodes.rows(e, int(picks[0]), int(picks[-1]) + 1, ("rgb",))["rgb"][picks - picks[0]]
        rows.append(np.concatenate(list(rgb), axis=1))
    return np.concatenate(rows, axis=0)


def write_curation(path: str | Path, record: dict[str, Any], tokenizer: str | Path) -> Path:
    """Save a curation record with the SHA-256 of the tokenizer whose latents made it."""
    path = Path(path)
    record = {
        **record,
        "tokenizer": str(tokenizer),
        "tokenizer_sha256": file_sha256(Path(tokenizer) / "model.safetensors"),
    }
    return atomic_write_json(path, record, indent=1)


def kept_rows(curation: str | Path, episodes: EpisodeDataset) -> dict[int, np.ndarray]:
    """Per episode, a bool mask (rows,) of the rows inside kept clips: what
    :class:`cosmos_env.data.WindowDataset` takes as ``keep``. Raises ValueError for a
    curation file of another dataset or format."""
    record = json.loads(Path(curation).read_text())
    if record.get("format") != FORMAT:
        raise ValueError(f"{curation}: not a curation file (format {record.get('format')!r})")
    if record["dataset_id"] != episodes.meta["dataset_id"]:
        raise ValueError(f"{curation}: made for dataset {record['dataset_id']}, not {episodes.meta['dataset_id']}")
    clip = record["settings"]["clip"]
    masks = {}
    for i, ep in enumerate(episodes.episodes):
        mask = np.zeros(ep.rows, dtype=bool)
        for start in record["kept"].get(str(i), []):
            mask[start : start + clip] = True
        masks[i] = mask
    return masks
