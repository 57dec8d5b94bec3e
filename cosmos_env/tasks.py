"""Task configs: which MuJoCo task, rendered how.

One YAML file per task under ``cosmos_env/conf/task/`` is the single source of truth;
:class:`TaskConfig` is its schema. ``load_task("hopper")`` reads it; Hydra entry points
compose the same files (``task=hopper``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from omegaconf import OmegaConf

TASK_DIR = Path(__file__).parent / "conf" / "task"


@dataclass(frozen=True)
class TaskConfig:
    """A gymnasium MuJoCo task and how the reference renders it."""

    name: str
    """Short name used on the command line (``task=hopper``)."""
    gym_id: str
    """The gymnasium id of the MuJoCo reference, e.g. ``Hopper-v5``."""
    width: int = 64
    height: int = 64
    camera: str | None = None
    """A camera named in the task's MJCF (``track``), or None for a free camera."""
    camera_pose: tuple[float, ...] | None = None
    """Free camera only: (lookat x, y, z, distance, azimuth, elevation in degrees); None
    keeps gymnasium's default view of the task."""
    frame_skip: int = 4
    """Physics steps per env step."""
    max_episode_steps: int = 1000
    segmentation: str = "geom"
    """``geom``: one id per geom; ``body``: one id per body. 0 is background."""
    terminates: bool = True
    """Whether the MuJoCo task can end an episode before its time limit (HalfCheetah and
    Reacher cannot); where it cannot, imagination never terminates either."""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"task {self.name!r}: width and height must be positive")
        if self.camera_pose is not None and len(self.camera_pose) != 6:
            raise ValueError(
                f"task {self.name!r}: camera_pose needs 6 numbers (lookat x, y, z, distance, azimuth, elevation)"
            )
        if self.segmentation not in ("geom", "body"):
            raise ValueError(f"task {self.name!r}: segmentation must be 'geom' or 'body', got {self.segmentation!r}")


class UnknownTaskError(ValueError):
    """Raised for a task name that has no config file."""


def known_tasks() -> list[str]:
    """Names of the tasks with a config file, sorted."""
    return sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


def load_task(name: str, **overrides: object) -> TaskConfig:
    """Load a task config by short name (``hopper``) or gym id (``Hopper-v5``).

    Keyword arguments override fields, e.g. ``load_task("hopper", width=96)``.
    """
    by_gym_id = {}
    for task in known_tasks():
        cfg = OmegaConf.load(TASK_DIR / f"{task}.yaml")
        by_gym_id[str(cfg.gym_id).lower()] = task
    key = by_gym_id.get(name.lower(), name)
    path = TASK_DIR / f"{key}.yaml"
    if not path.is_file():
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(known_tasks())}")
    cfg = OmegaConf.merge(OmegaConf.structured(TaskConfig), OmegaConf.load(path))
    task = OmegaConf.to_object(cfg)
    return replace(task, **overrides) if overrides else task
