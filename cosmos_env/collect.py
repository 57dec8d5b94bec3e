"""Collect episodes from the MuJoCo reference into a dataset (see :mod:`cosmos_env.data`).

The work is split into shards of about ``shard_steps`` steps (whole episodes, so a shard
may run over). Shard ``i`` depends only on (task, behaviour, seed, i, its target steps), so
shards are collected in parallel processes in any order, and a killed collection
resumes by collecting the shards that are not on disk yet. ``index.json`` is written
last: a dataset without it is unfinished.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing as mp
import os
import queue
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cosmos_env.behaviour import MIX_FIELDS, BehaviourConfig, make_behaviour
from cosmos_env.data import (
    FORMAT,
    RECOLLECT,
    VERSION,
    DatasetError,
    checksum_path,
    open_shard,
    shard_path,
    write_index,
    write_shard,
)
from cosmos_env.processes import exit_with_parent
from cosmos_env.reference import Frame, MujocoReference
from cosmos_env.styles import random_style
from cosmos_env.tasks import TaskConfig, load_task
from worldmodels.io import (
    atomic_write_json,
    integrity_problem,
)

Behaviour = BehaviourConfig | Callable[[np.ndarray], np.ndarray]

# settings that fix what every shard contains; a resumed collection must match them
_PLAN_KEYS = ("task", "behaviour", "seed", "shard_steps", "steps_after_termination")
_PLAN_DEFAULTS = {"steps_after_termination": 0}  # for datasets collected before the key existed


@dataclass(frozen=True)
class CollectSummary:
    root: Path
    episodes: int
    steps: int
    seconds: float
    """Wall time of this run (collected shards only; resumed shards cost nothing)."""
    collected_steps: int
    """Steps collected by this run."""
    bytes_on_disk: int
    recollected: int = 0
    """Damaged shards (SHA-256 not as written) this run collected again."""

    @property
    def steps_per_second(self) -> float:
        return self.collected_steps / max(self.seconds, 1e-9)

    def __str__(self) -> str:
        return (
            f"{self.root}: {self.episodes} episodes, {self.steps} steps, "
            f"{self.bytes_on_disk / 2**20:.1f} MiB on disk; this run collected "
            f"{self.collected_steps} steps in {self.seconds:.1f} s "
            f"({self.steps_per_second:.0f} steps/s)"
            + (f"; re-collected {self.recollected} damaged shard(s)" if self.recollected else "")
        )


@dataclass(frozen=True)
class _ShardJob:
    root: Path
    index: int
    task: TaskConfig
    behaviour: Behaviour
    seed: int
    target_steps: int
    """min(shard_steps, what is left of the requested steps): the last shard is smaller."""
    dataset_id: str
    steps_after_termination: int = 0
    styles: str | None = None


def collect_shard(job: _ShardJob, on_episode: Callable[[int], None] = lambda steps: None) -> int:
    """Collect one shard of whole episodes and write it atomically. Returns its steps."""
    rng = np.random.default_rng([job.seed, job.index])
    ref = MujocoReference(job.task)
    policy = make_behaviour(job.behaviour, ref.action_space)
    no_action = np.zeros(ref.action_space.shape, np.float32)
    rows: dict[str, list] = {}

    style = None

    def add_row(
        frame: Frame,
        obs: np.ndarray,
        qpos: np.ndarray,
        qvel: np.ndarray,
        action: np.ndarray,
        reward: float,
        terminated: bool,
        truncated: bool,
    ) -> None:
        if style is not None:
            rows.setdefault("styled_rgb", []).append(ref.render_styled(style))
            rows.setdefault("style", []).append(style.astype(np.float32))
        values = dict(
            rgb=frame.rgb,
            depth=frame.depth.astype(np.float16),
            segmentation=frame.segmentation,
            obs=obs.astype(np.float32),
            qpos=qpos,
            qvel=qvel,
            action=action,
            reward=np.float32(reward),
            terminated=terminated,
            truncated=truncated,
        )
        for key, value in values.items():
            rows.setdefault(key, []).append(value)

    offsets, seeds, steps = [0], [], 0
    while steps < job.target_steps:
        episode_seed = int(rng.integers(2**31))
        obs, _ = ref.reset(seed=episode_seed)
        policy.reset(np.random.default_rng(episode_seed))
        if job.styles == "random":  # one look per episode, from its seed
            style = random_style(np.random.default_rng([episode_seed, 1]))
        n, done, since_termination = 0, False, 0
        while not done:
            action = np.asarray(policy(obs), np.float32).reshape(ref.action_space.shape)
            if not np.all(np.isfinite(action)):
                raise ValueError(f"behaviour policy returned a non-finite action {action}")
            before = (ref.render(), obs, ref.qpos, ref.qvel)  # the row describes the state before the step
            obs, reward, terminated, truncated, _ = ref.step(action)
            add_row(*before, action, reward, terminated, truncated)
            since_termination = since_termination + 1 if terminated else 0
            n, done = n + 1, truncated or (terminated and since_termination > job.steps_after_termination)
        add_row(ref.render(), obs, ref.qpos, ref.qvel, no_action, 0.0, False, False)  # final observation
        steps += n
        offsets.append(offsets[-1] + n + 1)
        seeds.append(episode_seed)
        on_episode(n)
    ref.close()

    arrays = {key: np.stack(values) for key, values in rows.items()}
    arrays["episode_offsets"] = np.array(offsets, np.int64)
    arrays["episode_seeds"] = np.array(seeds, np.int64)
    write_shard(job.root, job.index, job.dataset_id, arrays, {"target_steps": str(job.target_steps)})
    return steps


_progress_queue: mp.Queue[int] | None = None


def _init_worker(progress: mp.Queue[int], parent: int) -> None:
    global _progress_queue
    _progress_queue = progress
    exit_with_parent(parent)


def _collect_shard_in_worker(job: _ShardJob) -> int:
    return collect_shard(job, on_episode=_progress_queue.put)


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in ("cosmos-env", "gymnasium", "mujoco", "numpy", "torch"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _behaviour_record(behaviour: Behaviour) -> dict | str:
    if isinstance(behaviour, BehaviourConfig):
        record = dataclasses.asdict(behaviour)
        if behaviour.name != "mix":
            record = {k: v for k, v in record.items() if k not in MIX_FIELDS}
        elif behaviour.ladder is not None:  # which actors: their weights' SHA-256, by name
            from cosmos_env.verify import recorded_checksums

            record["ladder_sha256"] = {p.parent.name: d for p, d in recorded_checksums(Path(behaviour.ladder)).items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}
    name = getattr(behaviour, "__qualname__", type(behaviour).__name__)
    return f"callable:{getattr(behaviour, '__module__', '?')}.{name}"


def _prepare_root(root: Path, plan: dict) -> str:
    """Create meta.json, or check that an existing one describes the same collection."""
    meta_path = root / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise DatasetError(f"{root} holds something else ({meta_path} format={meta.get('format')!r})")
        for key in _PLAN_KEYS:
            on_disk = meta.get(key, _PLAN_DEFAULTS.get(key))
            if on_disk != plan[key]:
                raise DatasetError(
                    f"{root} holds a dataset collected with another {key}: "
                    f"{on_disk!r} on disk, {plan[key]!r} requested; choose another out directory"
                )
        return meta["dataset_id"]
    if root.exists() and any(root.iterdir()):
        raise DatasetError(f"{root} exists and is not a cosmos-env dataset; choose an empty directory")
    dataset_id = uuid.uuid4().hex
    atomic_write_json(
        meta_path,
        {
            "format": FORMAT,
            "version": VERSION,
            "dataset_id": dataset_id,
            **plan,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": _package_versions(),
        },
    )
    return dataset_id


def collect(
    task: TaskConfig | str,
    steps: int,
    out: str | Path,
    behaviour: Behaviour = BehaviourConfig(),
    seed: int = 0,
    shard_steps: int = 1000,
    workers: int = 0,
    progress: bool = True,
    steps_after_termination: int = 0,
    styles: str | None = None,
) -> CollectSummary:
    """Record at least ``steps`` steps of ``task`` into the dataset directory ``out``.

    ``workers``: processes (0 = one per CPU core, 1 = this process). Running the same
    call again resumes an interrupted collection; a larger ``steps`` extends a finished
    one. A callable ``behaviour`` must be picklable when ``workers != 1``.

    ``steps_after_termination`` keeps stepping an episode that many steps after the task
    terminates (rows keep the task's ``terminated`` label, true while it holds).
    ``styles="random"`` also renders every frame in an appearance style, a random one per
    episode (``styled_rgb`` and ``style`` rows, :mod:`cosmos_env.styles`), for Transfer.

    Raises ValueError for non-positive ``steps`` or ``shard_steps``, and DatasetError when
    ``out`` holds something else or a dataset collected with other settings.
    """
    task = load_task(task) if isinstance(task, str) else task
    if steps < 1 or shard_steps < 1:
        raise ValueError(f"steps and shard_steps must be positive, got {steps}, {shard_steps}")
    if styles not in (None, "random"):
        raise ValueError(f"styles must be None or 'random', got {styles!r}")
    root = Path(out)
    plan = {
        "task": dataclasses.asdict(task),
        "behaviour": _behaviour_record(behaviour),
        "seed": seed,
        "shard_steps": shard_steps,
        "steps_after_termination": steps_after_termination,
    }
    if styles is not None:  # recorded only when used: datasets from before it still resume
        plan["styles"] = styles
    plan["task"]["camera_pose"] = list(task.camera_pose) if task.camera_pose else None
    del plan["task"]["terminates"]  # what the task is, not how it is recorded: datasets from before it still resume
    dataset_id = _prepare_root(root, plan)
    (root / "shards").mkdir(parents=True, exist_ok=True)

    num_shards = math.ceil(steps / shard_steps)
    jobs, damaged = [], 0
    for i in range(num_shards):
        job = _ShardJob(
            root,
            i,
            task,
            behaviour,
            seed,
            min(shard_steps, steps - i * shard_steps),
            dataset_id,
            steps_after_termination,
            styles,
        )
        state = _shard_state(job)
        if state != "done":
            jobs.append(job)
            damaged += state == "damaged"
    for stale in (root / "shards").glob(".*.tmp"):
        stale.unlink()

    workers = workers or os.cpu_count() or 1
    bar = tqdm(
        total=sum(job.target_steps for job in jobs),
        unit="step",
        desc=f"collect {task.name}",
        disable=not progress or not jobs,
    )
    start = time.perf_counter()
    collected = 0
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            collected += collect_shard(job, on_episode=bar.update)
    else:
        ctx = mp.get_context("spawn")  # EGL contexts do not survive fork
        progress_queue = ctx.Queue()
        with ProcessPoolExecutor(
            min(workers, len(jobs)), mp_context=ctx, initializer=_init_worker, initargs=(progress_queue, os.getpid())
        ) as pool:
            pending = {pool.submit(_collect_shard_in_worker, job) for job in jobs}
            while pending:
                finished, pending = wait(pending, timeout=0.2)
                collected += sum(f.result() for f in finished)
                while True:
                    try:
                        bar.update(progress_queue.get_nowait())
                    except queue.Empty:
                        break
    seconds = time.perf_counter() - start
    bar.close()
    return _write_index(root, dataset_id, num_shards, seconds, collected, damaged)


def _shard_state(job: _ShardJob) -> str:
    """``done`` (on disk, complete, its SHA-256 as written, for the same target), ``missing``
    or ``damaged`` (to be collected again)."""
    path = shard_path(job.root, job.index)
    if not path.is_file():
        return "missing"
    recorded = checksum_path(path)
    expected = recorded.read_text().strip() if recorded.is_file() else None
    if integrity_problem(path, expected, RECOLLECT):
        return "damaged"
    try:
        _, metadata = open_shard(path, job.dataset_id)
    except DatasetError:
        return "damaged"
    return "done" if metadata.get("target_steps") == str(job.target_steps) else "missing"


def _write_index(
    root: Path, dataset_id: str, num_shards: int, seconds: float, collected: int, damaged: int
) -> CollectSummary:
    episodes, total_steps, size = write_index(root, dataset_id, num_shards)
    return CollectSummary(root, episodes, total_steps, seconds, collected, size, damaged)
