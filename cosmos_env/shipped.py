"""The small world models shipped in ``cosmos_env/weights/<task>/`` (trained by
``examples/train_shipped_models.sh``; each folder has a MODEL_CARD.md)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).parent / "weights"


def shipped_tasks() -> list[str]:
    """Tasks with a complete shipped world model (tokenizer and predict)."""
    return sorted(p.name for p in WEIGHTS.iterdir() if (p / "tokenizer").is_dir() and (p / "predict").is_dir())


def weights_dir(task: str) -> Path:
    path = WEIGHTS / task
    if not (path / "predict").is_dir():
        raise FileNotFoundError(
            f"no shipped world model for task {task!r} (shipped: {', '.join(shipped_tasks()) or 'none'}); "
            "pass the directory of one you trained"
        )
    return path
