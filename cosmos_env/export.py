"""One world model directory from trained stage models: ``cosmos-env export``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from worldmodels.checkpoint import read_config

SAMPLING_FIELDS = ("rollout_context_noise", "rollout_sampler_steps")
"""PredictConfig fields that change how a trained Predict is sampled, not its weights."""


def export_world_model(
    tokenizer: str | Path,
    predict: str | Path,
    reason: str | Path | None,
    out: str | Path,
    sampling: dict[str, Any] | None = None,
    decoder_age: bool = True,
    transfer: str | Path | None = None,
) -> Path:
    """Put trained stage models together as one world model directory (``tokenizer/``,
    ``predict/``, ``reason/`` and optionally ``transfer/``, each with its training record) that
    ``gym.make("cosmos_env/WorldModel-v0", weights=out)`` and ``WorldModel.from_pretrained``
    take. Checks that the parts fit together first; replaces ``out`` atomically.
    ``sampling``: values of :data:`SAMPLING_FIELDS` written into Predict's config, chosen
    after training (``benchmarks/fidelity.py --seed 20000 ...``); the rest stay as trained.
    ``decoder_age=False`` drops the decoder's age conditioning (:meth:`Tokenizer.without_age`):
    imagined frames are drawn as real ones are."""
    from worldmodels.io import atomic_write_json
    from worldmodels.world_model import WorldModel

    sampling = {k: v for k, v in (sampling or {}).items() if v is not None}
    if set(sampling) - set(SAMPLING_FIELDS):
        raise ValueError(f"sampling sets {sorted(set(sampling) - set(SAMPLING_FIELDS))}; only {SAMPLING_FIELDS} may be")
    paths = {"tokenizer": Path(tokenizer), "predict": Path(predict)} | ({"reason": Path(reason)} if reason else {})
    paths |= {"transfer": Path(transfer)} if transfer else {}
    for stage, path in paths.items():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path}: no trained {stage} model there (train it: cosmos-env train stage={stage})"
            )
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    copied = {stage: path for stage, path in paths.items() if decoder_age or stage != "tokenizer"}
    for stage, path in copied.items():  # the weights and config only (a checkpoint also holds optimizer state)
        (tmp / stage).mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copy2(path / name, tmp / stage / name)
    if not decoder_age:  # the tokenizer rewritten without its decoder's age conditioning
        from worldmodels.checkpoint import from_pretrained, save_pretrained

        record = read_config(paths["tokenizer"])
        plain = from_pretrained(paths["tokenizer"], expected_class="Tokenizer").without_age()
        save_pretrained(plain, tmp / "tokenizer", extra={**record["extra"], "decoder_age": False})
    if sampling:
        record = read_config(tmp / "predict")
        record["config"].update(sampling)
        atomic_write_json(tmp / "predict" / "config.json", record)
    WorldModel.from_pretrained(tmp)  # raises, naming the mismatch or bad value, when the parts do not fit
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
