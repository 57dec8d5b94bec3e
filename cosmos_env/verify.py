"""``cosmos-env verify PATH``: check every file that has a recorded SHA-256 under a path.

Saved models (``config.json`` beside ``model.safetensors``), policy actors (``actor.json``),
datasets (``index.json``: each shard) and training checkpoints (``state.json``: the
optimizer and online weights) record the SHA-256 of what they wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from worldmodels.io import file_sha256


def recorded_checksums(root: Path) -> dict[Path, str | None]:
    """Every checksummed file under ``root`` -> its recorded SHA-256 (None: none recorded)."""
    found: dict[Path, str | None] = {}
    for config in sorted(root.rglob("config.json")):
        if (config.parent / "model.safetensors").is_file():
            found[config.parent / "model.safetensors"] = _read(config).get("sha256", {}).get("model.safetensors")
    for actor in sorted(root.rglob("actor.json")):
        found[actor.parent / "actor.safetensors"] = _read(actor).get("sha256")
    for index in sorted(root.rglob("index.json")):
        for shard in _read(index).get("shards", []):
            if isinstance(shard, dict) and "file" in shard:
                found[index.parent / shard["file"]] = shard.get("sha256")
    for state in sorted(root.rglob("state.json")):
        for name, digest in _read(state).get("sha256", {}).items():
            found[state.parent / name] = digest
    return found


def _read(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def verify(path: str | Path) -> dict[str, str]:
    """File -> ``ok``, ``damaged``, ``missing`` or ``unchecked`` (no SHA-256 recorded).
    Raises FileNotFoundError when ``path`` does not exist."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or directory")
    out = {}
    for file, expected in recorded_checksums(root if root.is_dir() else root.parent).items():
        if not file.is_file():
            out[str(file)] = "missing"
        elif expected is None:
            out[str(file)] = "unchecked"
        else:
            out[str(file)] = "ok" if file_sha256(file) == expected else "damaged"
    return out
