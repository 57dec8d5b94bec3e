"""Episode datasets on disk: format, reading, and training windows.

A dataset is a directory::

    meta.json                  task, camera, behaviour policy, seed, package versions
    index.json                 the shards and their episode/row counts
    shards/shard-000000.safetensors

Each shard holds whole episodes (never half of one). Rows are *observations*: an
episode of T steps has T + 1 rows, row t being the state before action t.

=================  ===============  =========================================
tensor             shape, dtype     meaning
=================  ===============  =========================================
rgb                (R, H, W, 3) u8  camera image
depth              (R, H, W) f16    metres from the camera
segmentation       (R, H, W) u8     geom/body id + 1, 0 = background
obs                (R, D) f32       the task's observation vector
qpos, qvel         (R, nq|nv) f64   generalised positions and velocities
action             (R, A) f32       action taken at this row (0 on the last row)
reward             (R,) f32         reward for that action (0 on the last row)
terminated         (R,) bool        the state after the action is terminal
truncated          (R,) bool        the time limit ended the episode
styled_rgb         (R, H, W, 3) u8  (collected with ``styles``) the frame in a style
style              (R, 12) f32      (likewise) that style, :mod:`cosmos_env.styles`
episode_offsets    (E + 1,) i64     first row of each episode; the last is R
episode_seeds      (E,) i64         the reset seed of each episode
=================  ===============  =========================================

Shards are written atomically (temp file + rename) and read through ``np.memmap``, so a
dataset need not fit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from worldmodels.io import (
    SafetensorsError,
    atomic_save_safetensors,
    atomic_write_bytes,
    atomic_write_json,
    file_sha256,
    integrity_problem,
    memmap_safetensors,
)

FORMAT = "cosmos-env-dataset"
SHARD_FORMAT = "cosmos-env-shard"
VERSION = 1

FRAME_FIELDS = ("rgb", "depth", "segmentation", "obs", "qpos", "qvel")
"""Per-row fields: one value per observation."""
STYLED_FIELDS = ("styled_rgb", "style")
"""Per-row fields of a dataset collected with ``styles``: the frame in an appearance style
(:mod:`cosmos_env.styles`; one per episode) and that style's vector."""
STEP_FIELDS = ("action", "reward", "terminated", "truncated")
"""Per-transition fields: the action at a row and its outcome."""


class DatasetError(ValueError):
    """A dataset or shard is missing, incomplete, corrupt or from another dataset."""


def shard_path(root: Path, index: int) -> Path:
    return root / "shards" / f"shard-{index:06d}.safetensors"


def checksum_path(shard: Path) -> Path:
    """The file beside a shard holding its SHA-256, written just after it."""
    return shard.with_suffix(".sha256")


RECOLLECT = "re-collect it (run the same collect command again)"


def open_shard(path: Path, dataset_id: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Memory-map a shard, checking it is a complete shard of this dataset.

    Returns its arrays and its metadata."""
    try:
        arrays, metadata = memmap_safetensors(path)
    except SafetensorsError as e:
        raise DatasetError(f"corrupt shard {path}: {e}") from None
    if metadata.get("format") != SHARD_FORMAT:
        raise DatasetError(f"{path} is not a cosmos-env shard (format={metadata.get('format')!r})")
    if metadata.get("dataset_id") != dataset_id:
        raise DatasetError(f"{path} belongs to another dataset ({metadata.get('dataset_id')}, expected {dataset_id})")
    declared = metadata.get("fields")  # a shard of part of the fields (imagined rows) says which
    required = declared.split(",") if declared else FRAME_FIELDS + STEP_FIELDS
    missing = (set(required) | {"episode_offsets"}) - set(arrays)
    if missing:
        raise DatasetError(f"corrupt shard {path}: missing tensors {sorted(missing)}")
    return arrays, metadata


def write_shard(root: Path, index: int, dataset_id: str, arrays: dict[str, np.ndarray], extra: dict[str, str]) -> Path:
    """Shard ``index`` of a dataset (whole episodes: per-row arrays plus ``episode_offsets``
    and ``episode_seeds``) written atomically, its SHA-256 beside it; ``extra`` goes into
    the shard's metadata."""
    rows = sorted(k for k in arrays if not k.startswith("episode_"))
    metadata = {"format": SHARD_FORMAT, "version": str(VERSION), "dataset_id": dataset_id, "shard": str(index)}
    metadata["fields"] = ",".join(rows)
    path = shard_path(root, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_safetensors(path, arrays, {**metadata, **extra})
    atomic_write_bytes(checksum_path(path), file_sha256(path).encode())
    return path


def write_index(root: Path, dataset_id: str, num_shards: int) -> tuple[int, int, int]:
    """``index.json`` over shards ``0 .. num_shards - 1`` (written last: it makes the dataset
    complete); returns (episodes, steps, bytes on disk)."""
    shards, episodes, total_steps, size = [], 0, 0, 0
    for i in range(num_shards):
        path = shard_path(root, i)
        offsets = [int(x) for x in open_shard(path, dataset_id)[0]["episode_offsets"]]
        n_episodes, n_rows = len(offsets) - 1, offsets[-1]
        recorded = checksum_path(path)
        shards.append(
            {
                "sha256": recorded.read_text().strip() if recorded.is_file() else file_sha256(path),
                "file": str(path.relative_to(root)),
                "episodes": n_episodes,
                "steps": n_rows - n_episodes,
                "episode_offsets": offsets,
            }
        )
        episodes += n_episodes
        total_steps += n_rows - n_episodes
        size += path.stat().st_size
    atomic_write_json(root / "index.json", {"format": FORMAT, "version": VERSION, "shards": shards})
    size += (root / "index.json").stat().st_size + (root / "meta.json").stat().st_size
    return episodes, total_steps, size


@dataclass(frozen=True)
class Episode:
    shard: int
    start: int
    """First row in the shard."""
    rows: int
    """Observations; the episode has ``rows - 1`` steps."""


class EpisodeDataset:
    """Random access to the whole episodes of a dataset directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path, index_path = self.root / "meta.json", self.root / "index.json"
        if not meta_path.is_file():
            raise DatasetError(f"{self.root} is not a cosmos-env dataset (no meta.json)")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise DatasetError(
                f"{meta_path}: format {self.meta.get('format')!r} v{self.meta.get('version')} "
                f"is not {FORMAT!r} v{VERSION}"
            )
        if not index_path.is_file():
            raise DatasetError(
                f"{self.root} is incomplete (no index.json): run the same collect command again to finish it"
            )
        index = json.loads(index_path.read_text())
        self.shard_files = [self.root / s["file"] for s in index["shards"]]
        self.shard_sha256 = [s.get("sha256") for s in index["shards"]]
        self.episodes: list[Episode] = []
        for i, shard in enumerate(index["shards"]):
            offsets = shard["episode_offsets"]
            self.episodes += [Episode(i, a, b - a) for a, b in zip(offsets[:-1], offsets[1:])]
        self._shards: dict[int, dict[str, np.ndarray]] = {}

    @property
    def num_steps(self) -> int:
        return sum(e.rows - 1 for e in self.episodes)

    def __len__(self) -> int:
        return len(self.episodes)

    def shard(self, i: int) -> dict[str, np.ndarray]:
        """Shard i's arrays, memory-mapped; its SHA-256 is checked when it is first opened in a
        process (DatasetError naming the file when it differs from the index's)."""
        if i not in self._shards:
            problem = integrity_problem(self.shard_files[i], self.shard_sha256[i], RECOLLECT)
            if problem:
                raise DatasetError(problem)
            self._shards[i] = open_shard(self.shard_files[i], self.meta["dataset_id"])[0]
        return self._shards[i]

    def rows(self, episode: int, start: int, stop: int, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Rows ``[start, stop)`` of one episode, copied out of the memory map."""
        e = self.episodes[episode]
        if not 0 <= start <= stop <= e.rows:
            raise IndexError(f"rows [{start}, {stop}) outside episode {episode} of {e.rows} rows")
        shard = self.shard(e.shard)
        absent = [f for f in fields if f not in shard]
        if absent:
            hint = " (collect with styles=random for styled frames)" if set(absent) & set(STYLED_FIELDS) else ""
            raise DatasetError(f"{self.root} has no field(s) {absent}{hint}")
        return {f: np.array(shard[f][e.start + start : e.start + stop]) for f in fields}

    def episode(self, i: int, fields: tuple[str, ...] = FRAME_FIELDS + STEP_FIELDS) -> dict[str, np.ndarray]:
        return self.rows(i, 0, self.episodes[i].rows, fields)

    def __getstate__(self) -> dict:
        # memory maps are reopened in each worker process rather than pickled whole
        return {**self.__dict__, "_shards": {}}


class WindowDataset(Dataset):
    """Training windows of ``context + horizon`` consecutive observations of one episode.

    A sample holds per-row fields with ``L = context + horizon`` rows (``rgb``, ``obs``,
    ...), per-step fields with ``L - 1`` rows (``action[t]`` leads from row t to t+1), and
    ``valid`` (L,) bool. Windows never cross an episode boundary. With ``pad_start``
    windows may begin up to ``context - 1`` rows before an episode's first row; those
    rows repeat the first observation with zero action and reward and are not ``valid``,
    so a model learns to start from a single frame.

    ``episodes`` restricts the windows to those episodes (e.g. a held-out split);
    ``extra_frames`` adds per-row fields computed elsewhere (e.g. latents), one array per
    episode with the episode's rows along the first axis; ``keep`` (a curation,
    :func:`cosmos_env.curate.kept_rows`): per episode a bool mask of its rows, and only
    windows whose first real row is kept are used.
    """

    def __init__(
        self,
        root: str | Path | EpisodeDataset,
        context: int,
        horizon: int = 1,
        fields: tuple[str, ...] = ("rgb", "obs", "action", "reward", "terminated"),
        pad_start: bool = False,
        episodes: Sequence[int] | None = None,
        extra_frames: dict[str, Sequence[np.ndarray]] | None = None,
        keep: dict[int, np.ndarray] | None = None,
    ) -> None:
        if context < 1 or horizon < 0 or context + horizon < 2:
            raise ValueError(f"need context >= 1 and context + horizon >= 2, got {context}, {horizon}")
        known = FRAME_FIELDS + STYLED_FIELDS + STEP_FIELDS
        unknown = set(fields) - set(known)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {known}")
        self.episodes = root if isinstance(root, EpisodeDataset) else EpisodeDataset(root)
        self.context, self.length = context, context + horizon
        self.frame_fields = tuple(f for f in fields if f in FRAME_FIELDS + STYLED_FIELDS)
        self.step_fields = tuple(f for f in fields if f in STEP_FIELDS)
        first = -(context - 1) if pad_start else 0
        self.extra_frames = extra_frames or {}
        chosen = range(len(self.episodes)) if episodes is None else episodes
        starts = [(i, s) for i in chosen for s in range(first, self.episodes.episodes[i].rows - self.length + 1)]
        if keep is not None:
            starts = [(i, s) for i, s in starts if keep[i][max(s, 0)]]
        self.windows = np.array(starts, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        episode, start = (int(x) for x in self.windows[i])
        pad = max(0, -start)
        data = self.episodes.rows(episode, start + pad, start + self.length, self.frame_fields + self.step_fields)
        for name, per_episode in self.extra_frames.items():
            data[name] = np.array(per_episode[episode][start + pad : start + self.length])  # a copy, like the rest
        out = {}
        for f in self.frame_fields + tuple(self.extra_frames):
            x = data[f]
            out[f] = np.concatenate([np.repeat(x[:1], pad, axis=0), x]) if pad else x
        for f in self.step_fields:
            x = data[f][:-1]  # the last row's action leads out of the window
            if pad:
                x = np.concatenate([np.zeros((pad,) + x.shape[1:], x.dtype), x])
            out[f] = x
        if "depth" in out:
            out["depth"] = out["depth"].astype(np.float32)
        valid = np.arange(self.length) >= pad
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in {**out, "valid": valid}.items()}
