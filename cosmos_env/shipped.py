"""The small world models shipped in ``cosmos_env/weights/``, one folder per task and env
version: ``<task>/`` is version 0 (``cosmos_env/<Task>-v0``, trained by
``examples/train_shipped_models.sh``), ``<task>-v<N>/`` version N (``-v1``: the v2 world
model, ``examples/train_shipped_models_v2.sh``); each folder has a MODEL_CARD.md.
Behaviour never changes under an id: a new model is a new version."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from worldmodels.io import file_sha256

WEIGHTS = Path(__file__).parent / "weights"

PARTS = ("tokenizer", "predict", "reason")

TRANSFER_HEADING = "## Transfer (styled observations)"
"""The model card section on a folder's ``transfer/`` (written by ``examples/package_weights.py``,
replaced by ``examples/add_transfer.py`` once measured)."""

ENV_NAMES = {"hopper": "Hopper", "halfcheetah": "HalfCheetah", "walker2d": "Walker2d"}
"""Task -> the name in its env ids (``cosmos_env/<Name>-v<N>``)."""


def folder(task: str, version: int) -> str:
    """The weights folder of a task's env version."""
    return task if version == 0 else f"{task}-v{version}"


def parse_folder(name: str) -> tuple[str, int] | None:
    """A weights folder's name -> (task, version) (``hopper`` -> ("hopper", 0), ``hopper-v1``
    -> ("hopper", 1)); None for a name of another form."""
    match = re.fullmatch(r"([a-z0-9]+?)(?:-v(\d+))?", name)
    return (match.group(1), int(match.group(2) or 0)) if match else None


def _complete(path: Path) -> bool:
    return path.is_dir() and all((path / part).is_dir() for part in PARTS)


def shipped_models() -> dict[str, tuple[str, int]]:
    """Every complete shipped folder -> (task, version)."""
    out = {}
    for path in sorted(WEIGHTS.iterdir()) if WEIGHTS.is_dir() else []:
        parsed = parse_folder(path.name)
        if parsed and _complete(path):
            out[path.name] = parsed
    return out


def shipped_tasks() -> list[str]:
    """Tasks with at least one complete shipped world model (tokenizer, predict and reason)."""
    return sorted({task for task, _ in shipped_models().values()})


def shipped_versions(task: str) -> list[int]:
    return sorted(v for t, v in shipped_models().values() if t == task)


def env_id(task: str, version: int) -> str:
    return f"cosmos_env/{ENV_NAMES.get(task, task.capitalize())}-v{version}"


def weights_dir(task: str, version: int | None = None) -> Path:
    """The shipped world model of ``task`` at env ``version`` (None: the newest).

    Raises FileNotFoundError naming what is shipped when there is none."""
    versions = shipped_versions(task)
    if not versions or (version is not None and version not in versions):
        shipped = ", ".join(f"{t} v{v}" for t, v in shipped_models().values()) or "none"
        raise FileNotFoundError(
            f"no shipped world model for task {task!r}{'' if version is None else f' v{version}'} "
            f"(shipped: {shipped}); pass the directory of one you trained"
        )
    return WEIGHTS / folder(task, max(versions) if version is None else version)


def newest_env_id(task: str) -> str:
    """The env id of ``task``'s newest shipped world model, the one to use (e.g.
    ``cosmos_env/Hopper-v5``). Raises FileNotFoundError when none is shipped."""
    return env_id(*parse_folder(weights_dir(task).name))


@functools.cache
def _shipped_sha256(path: Path) -> str:
    """A shipped file's SHA-256, hashed once per process (shipped files never change under an id)."""
    return file_sha256(path)


def shipped_match(sha256: dict[str, str]) -> tuple[str, list[str]] | None:
    """The env id whose shipped weights are the ones of ``sha256`` (a world model's file digests
    by relative path, as ``report.json`` records them: ``predict/model.safetensors`` -> hex), and
    the config files of :data:`PARTS` that differ from the shipped ones (empty: the very files);
    None when no shipped folder has the same ``model.safetensors`` of every part. Of several
    matches, the one with the fewest differing configs (then the lowest version) wins."""
    weights = {f"{part}/model.safetensors" for part in PARTS}
    if not weights <= set(sha256):
        return None
    best = None
    for name, (task, version) in sorted(shipped_models().items(), key=lambda item: item[1]):
        folder_path = WEIGHTS / name
        if any(_shipped_sha256(folder_path / f) != sha256[f] for f in sorted(weights)):
            continue
        configs = [f"{part}/config.json" for part in PARTS]
        differ = [c for c in configs if c in sha256 and _shipped_sha256(folder_path / c) != sha256[c]]
        if best is None or len(differ) < len(best[1]):
            best = (env_id(task, version), differ)
    return best
