"""Atomic file writes, zero-copy safetensors reads and SHA-256 integrity checks.

A file is written beside its destination under a temporary name, flushed to disk and
renamed over the destination: a reader (or a resumed job) sees the old file or the new
one, never half of one. safetensors files are read through ``np.memmap`` from their
documented header (8-byte little-endian length, then JSON), so nothing is unpickled and
a large file need not fit in memory. safetensors checks a file's structure, not its
content: :func:`integrity_problem` compares a file with the SHA-256 recorded when it was
written (in a config.json, a dataset index, a checkpoint's state.json).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

_DTYPES = {
    "BOOL": np.bool_,
    "U8": np.uint8,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
}


class SafetensorsError(ValueError):
    """A safetensors file is missing, truncated or not what it claims to be."""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_warned: set[str] = set()


def integrity_problem(path: str | Path, expected: str | None, fix: str) -> str | None:
    """Why ``path`` cannot be trusted, or None: its SHA-256 differs from ``expected`` (the
    message names the file and ``fix``). ``expected`` None (a file from before checksums)
    passes with a one-line warning, once per file."""
    path = Path(path)
    if expected is None:
        if str(path) not in _warned:
            _warned.add(str(path))
            warnings.warn(f"{path}: no SHA-256 recorded (written by an older version); {fix} to add one", stacklevel=3)
        return None
    actual = file_sha256(path)
    if actual != expected:
        return f"{path}: SHA-256 {actual[:12]}... does not match the recorded {expected[:12]}...: damaged; {fix}"
    return None


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """``obj`` as JSON (sorted keys; ``indent=None``: compact, for files of long curves)."""
    text = json.dumps(obj, indent=indent, sort_keys=True, separators=None if indent else (",", ":"))
    return atomic_write_bytes(path, (text + "\n").encode())


def atomic_save_safetensors(
    path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> Path:
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return atomic_write_bytes(path, safetensors.numpy.save(arrays, metadata=metadata))


def read_safetensors_header(path: str | Path) -> tuple[dict[str, Any], dict[str, str], int]:
    """Returns (tensor entries, ``__metadata__``, byte offset of the data section)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise SafetensorsError(f"{path}: truncated (no header)")
            n = int.from_bytes(prefix, "little")
            if n <= 0 or 8 + n > size:
                raise SafetensorsError(f"{path}: corrupt header length {n} (file is {size} bytes)")
            header = json.loads(f.read(n))
    except FileNotFoundError:
        raise SafetensorsError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: corrupt header ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: corrupt header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + n
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if entry["dtype"] not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']}")
        expected = int(np.prod(entry["shape"], dtype=np.int64)) * np.dtype(_DTYPES[entry["dtype"]]).itemsize
        if end - begin != expected or data_start + end > size:
            raise SafetensorsError(f"{path}: truncated or corrupt data for tensor {name!r}")
    return header, metadata, data_start


def memmap_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Open every tensor of a safetensors file as a read-only ``np.memmap``."""
    header, metadata, data_start = read_safetensors_header(path)
    arrays = {}
    for name, entry in header.items():
        shape = tuple(entry["shape"])
        dtype = _DTYPES[entry["dtype"]]
        begin = entry["data_offsets"][0]
        if int(np.prod(shape)) == 0:
            arrays[name] = np.zeros(shape, dtype)
        else:
            arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=data_start + begin, shape=shape)
    return arrays, metadata
