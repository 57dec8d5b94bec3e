"""``save_pretrained`` / ``from_pretrained``: safetensors weights + a JSON config.

A model directory holds ``config.json`` (format, version, model class, its config
dataclass as JSON, free-form ``extra``) and ``model.safetensors``. Nothing is unpickled.
Directories are written beside their destination and swapped in, so a reader never
sees a half-written model. Mismatches name the field: an unknown or missing config
field, a missing or unexpected tensor, a tensor of the wrong shape.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import types
import typing
from hashlib import sha256
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from worldmodels.io import atomic_write_bytes, atomic_write_json, file_sha256, integrity_problem

FORMAT = "cosmos-env-model"
VERSION = 2
"""2: PredictConfig no longer has ``obs_first``. Version 1 files are upgraded as they are
read (the weights are the same)."""


class CheckpointError(ValueError):
    """A model directory is missing, from another format, or does not fit the model."""


_REGISTERED: dict[str, tuple[type[nn.Module], type]] = {}


def register_model(name: str, model_cls: type[nn.Module], config_cls: type) -> None:
    """Make a model class from outside this package loadable (e.g. ``policies.bc``)."""
    _REGISTERED[name] = (model_cls, config_cls)


def _registry() -> dict[str, tuple[type[nn.Module], type]]:
    from worldmodels.predict import PredictConfig, PredictModel
    from worldmodels.probe import PoseProbe, PoseProbeConfig
    from worldmodels.reason import ReasonConfig, ReasonModel
    from worldmodels.tokenizer import Tokenizer, TokenizerConfig
    from worldmodels.transfer import TransferConfig, TransferModel

    return {
        **_REGISTERED,
        "TransferModel": (TransferModel, TransferConfig),
        "Tokenizer": (Tokenizer, TokenizerConfig),
        "PredictModel": (PredictModel, PredictConfig),
        "ReasonModel": (ReasonModel, ReasonConfig),
        "PoseProbe": (PoseProbe, PoseProbeConfig),
    }


def config_to_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))  # paths as strings


def config_from_dict(cls: type, data: dict[str, Any], source: str = "config") -> Any:
    """Rebuild a config dataclass, naming any unknown or missing field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CheckpointError(f"{source}: unknown {cls.__name__} field(s) {unknown}")
    missing = sorted(
        name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise CheckpointError(f"{source}: missing {cls.__name__} field(s) {missing}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        if isinstance(value, list) and "tuple" in str(hints[name]):
            value = tuple(value)  # JSON has no tuples
        if not _fits(value, hints[name]):
            raise CheckpointError(
                f"{source}: field {name!r} of {cls.__name__} must be {_type_name(hints[name])}, got {value!r}"
            )
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:  # a config's own checks
        raise CheckpointError(f"{source}: {e}") from None


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a config field's type (ints count as floats; bools as neither)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return isinstance(value, tuple) and all(_fits(v, items[min(i, len(items) - 1)]) for i, v in enumerate(value))
    if origin in (dict, list):
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def write_directory(directory: Path, write: typing.Callable[[Path], None]) -> Path:
    """Write into a sibling temp directory, then swap it in for ``directory``."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    old = directory.with_name(f".{directory.name}.{os.getpid()}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return directory


def save_pretrained(model: nn.Module, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (a registered class with a ``config`` dataclass) to ``directory``."""
    name = type(model).__name__
    if name not in _registry():
        raise CheckpointError(f"cannot save {name}: not one of {sorted(_registry())}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {
        "format": FORMAT,
        "version": VERSION,
        "class": name,
        "config": config_to_dict(model.config),
        "extra": extra or {},
    }

    def write(tmp: Path) -> None:
        data = safetensors.torch.save(state)
        atomic_write_bytes(tmp / "model.safetensors", data)
        atomic_write_json(tmp / "config.json", {**config, "sha256": {"model.safetensors": sha256(data).hexdigest()}})

    return write_directory(Path(directory), write)


def add_checksums(directory: str | Path) -> Path:
    """Record the SHA-256 of a saved model's weights in its config.json (models saved
    before checksums existed; the weights are trusted as they are)."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    config["sha256"] = {"model.safetensors": file_sha256(directory / "model.safetensors")}
    atomic_write_json(directory / "config.json", config)
    return directory


def verify_model(directory: str | Path) -> None:
    """Raise CheckpointError when a saved model's weights differ from their recorded SHA-256."""
    directory = resolve(directory)
    expected = read_config(directory).get("sha256", {}).get("model.safetensors")
    problem = integrity_problem(directory / "model.safetensors", expected, "re-download or re-export the model")
    if problem:
        raise CheckpointError(problem)


def resolve(path_or_id: str | Path) -> Path:
    """A local model directory, or a hub id downloaded where a hub is reachable."""
    path = Path(path_or_id)
    if path.is_dir():
        return path
    text = str(path_or_id)
    if path.exists() or text.count("/") != 1 or text.startswith((".", "/")):
        raise CheckpointError(f"{text}: no model directory here")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(
            f"{text}: not a local directory, and huggingface_hub is not installed to fetch it as a hub id"
        ) from None
    try:
        return Path(snapshot_download(text, allow_patterns=["config.json", "model.safetensors"]))
    except Exception as e:  # offline, unknown repo, no permission: all end here
        raise CheckpointError(f"{text}: not a local directory and could not be fetched from the hub ({e})") from None


def read_config(directory: str | Path) -> dict[str, Any]:
    path = resolve(directory) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no config.json (not a saved model)")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e}); re-export or re-download the model") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise CheckpointError(f"{path}: format {found!r} is not {FORMAT!r}")
    if config.get("version") == 1:
        config = _upgrade_from_1(config)
    if config.get("version") != VERSION:
        raise CheckpointError(f"{path}: format version {config.get('version')} (this code reads {VERSION})")
    return config


def _upgrade_from_1(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("class") == "PredictModel":
        config["config"] = {k: v for k, v in config["config"].items() if k != "obs_first"}
    return {**config, "version": 2}


def load_state(model: nn.Module, path: Path, state: dict[str, torch.Tensor] | None = None) -> None:
    """Load a safetensors file into ``model``, naming missing, unexpected or misshapen tensors."""
    if state is None:
        if not path.is_file():
            raise CheckpointError(f"{path}: missing")
        try:
            state = safetensors.torch.load_file(path)
        except Exception as e:
            raise CheckpointError(f"{path}: unreadable ({e})") from None
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the model: missing {missing}, unexpected {unexpected}")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise CheckpointError(
                f"{path}: tensor {key!r} has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)}"
            )
    model.load_state_dict(state)


def from_pretrained(
    directory: str | Path, expected_class: str | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """Load a model saved by :func:`save_pretrained` (a directory or a hub id)."""
    root = resolve(directory)
    config = read_config(root)
    name = config.get("class")
    if expected_class is not None and name != expected_class:
        raise CheckpointError(f"{root}: holds a {name}, expected a {expected_class}")
    if name not in _registry():
        raise CheckpointError(f"{root}: unknown model class {name!r}")
    model_cls, config_cls = _registry()[name]
    model = model_cls(config_from_dict(config_cls, config["config"], source=str(root / "config.json")))
    if (root / "model.safetensors").is_file():
        verify_model(root)
    load_state(model, root / "model.safetensors")
    return model.to(device).eval()
