"""Derived tensors stored beside a dataset (latents, imagined clips), keyed by what made them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worldmodels.io import atomic_save_safetensors, file_sha256, memmap_safetensors


def cached_arrays(path: Path, key: dict[str, str], make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays stored at ``path`` (safetensors) if its metadata holds ``key``; else
    ``make()``'s, saved there atomically with ``key`` as metadata. Stored arrays come back
    memory-mapped (read-only)."""
    if path.is_file():
        arrays, meta = memmap_safetensors(path)
        if all(meta.get(k) == v for k, v in key.items()):
            return arrays
    arrays = make()
    atomic_save_safetensors(path, arrays, key)
    return arrays


def latents_cache(data: str | Path, tokenizer: str | Path, out: str | Path) -> Path:
    """Where a dataset's latents under a tokenizer are cached: ``<data>/latents/<digest>.safetensors``
    (shared by every run of that tokenizer), or ``<out>/latents.safetensors`` when the dataset's
    folder is read-only."""
    folder = Path(data) / "latents"
    if not os.access(Path(data), os.W_OK) and not os.access(folder, os.W_OK):
        return Path(out) / "latents.safetensors"
    return folder / f"{file_sha256(Path(tokenizer) / 'model.safetensors')[:16]}.safetensors"
