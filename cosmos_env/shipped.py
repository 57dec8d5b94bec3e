"""The small world models shipped in ``cosmos_env/weights/<task>/`` (trained by
``examples/train_shipped_models.sh``; each folder has a MODEL_CARD.md)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"


PARTS = ("tokenizer", "predict", "reason")


def shipped_tasks() -> list[str]:
    """Tasks with a complete shipped world model (tokenizer, predict and reason)."""
    return sorted(p.name for p in WEIGHTS.iterdir() if all((p / part).is_dir() for part in PARTS))


def weights_dir(task: str) -> Path:
    path = WEIGHTS / task
    if task not in shipped_tasks():
        raise FileNotFoundError(
            f"no shipped world model for task {task!r} (shipped: {', '.join(shipped_tasks()) or 'none'}); "
            "pass the directory of one you trained"
        )
    return path
