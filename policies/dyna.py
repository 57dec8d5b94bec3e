"""The Dyna loop: real steps with the policy -> Predict fine-tuned on all real data -> the
policy trained in imagination from real starts (unless ``stage.real_starts=false``) -> repeat,
until a real-step budget is spent.

``cosmos-env train stage=policy stage.real_steps=100000 train.steps=400000 ...`` runs
:func:`dyna`: ``real_steps / round_real_steps`` rounds, each spending ``round_real_steps``
MuJoCo steps and ``train.steps / rounds`` imagined ones. The run directory holds::

    real/               the real dataset, grown by one shard a round (round 0: random actions,
                        then the last evaluated actor with ``collect_noise``)
    round-<k>/predict/  round k's fine-tuning run of Predict (from round k-1's weights)
    round-<k>/world/    round k's world model: the start model's tokenizer and Reason, that Predict
    policy/             the one SAC/PPO run across rounds (:mod:`policies.sb3`): eval.jsonl rows
                        carry ``real_steps``; policy/actor is the last evaluated actor

Every phase is idempotent (collection, training and the policy run resume, a world model
is exported atomically), so re-running the command continues where a kill stopped it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_env.collect import collect
from cosmos_env.tasks import TaskConfig
from cosmos_env.vector import resolve_weights
from policies.actor import MLPActor
from worldmodels.checkpoint import read_config
from worldmodels.stages import PolicyStageConfig, PredictStageConfig
from worldmodels.train import TrainConfig


class NoisyActorBehaviour:
    """A collect behaviour (picklable): a saved actor's action plus Gaussian noise of std
    ``noise`` half-ranges, or uniform random actions when ``actor`` is None."""

    def __init__(self, actor: str | None, low: np.ndarray, high: np.ndarray, noise: float) -> None:
        self.actor = None if actor is None else MLPActor.load(actor)
        self.low, self.high, self.noise = np.asarray(low), np.asarray(high), noise
        self.rng = np.random.default_rng()

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.actor is None:
            return self.rng.uniform(self.low, self.high).astype(np.float32)
        action = (
            self.actor.act(obs[None])[0] + self.rng.normal(0, self.noise, self.low.shape) * (self.high - self.low) / 2
        )
        return np.clip(action, self.low, self.high).astype(np.float32)


def predict_stage_of(predict: Path, tokenizer: Path) -> PredictStageConfig:
    """The stage settings a saved Predict was trained with (recorded since 0.2; for older
    models the defaults with its recorded context), to fine-tune it with."""
    extra = read_config(predict)["extra"]
    if "stage_config" in extra:
        return PredictStageConfig(**{**extra["stage_config"], "tokenizer": str(tokenizer), "curation": None})
    return PredictStageConfig(tokenizer=str(tokenizer), context=extra.get("context", 4))


def finetune_world(world: Path, data: Path, out: Path, steps: int, progress: bool) -> Path:
    """``world``'s Predict trained ``steps`` more on ``data`` (in ``out/predict``), exported
    with ``world``'s tokenizer and Reason as ``out/world``; returns that directory."""
    from cosmos_env.export import export_world_model
    from cosmos_env.training import PredictStage
    from worldmodels.checkpoint import from_pretrained
    from worldmodels.train import train

    if (out / "world" / "predict" / "config.json").is_file():  # exported whole, atomically: done
        return out / "world"
    settings = predict_stage_of(world / "predict", world / "tokenizer")
    trained = from_pretrained(world / "predict", expected_class="PredictModel")
    stage = PredictStage(settings, data, out / "predict", model=trained)
    every = max(1, steps)
    cfg = TrainConfig(
        out=str(out / "predict"),
        steps=steps,
        batch_size=16,
        lr=1e-4,
        warmup=0,
        ema=0.99,
        val_every=every,
        ckpt_every=every,
        progress=progress,
    )
    model = train(stage, cfg)
    reason = world / "reason" if (world / "reason" / "config.json").is_file() else None
    return export_world_model(world / "tokenizer", model, reason, out / "world")


def dyna(
    config: PolicyStageConfig,
    task: TaskConfig,
    out: str | Path,
    steps: int,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) the loop; returns the last evaluation row of the policy."""
    from cosmos_env.data import EpisodeDataset
    from cosmos_env.reference import MujocoReference
    from policies.sb3 import train_in_imagination

    out = Path(out)
    rounds = math.ceil(config.real_steps / config.round_real_steps)
    per_round = math.ceil(steps / rounds)
    world = resolve_weights(config.weights, task)
    reference = MujocoReference(task)
    space = reference.action_space
    reference.close()
    last: dict[str, Any] = {}
    for k in range(rounds):
        actor = out / "policy" / "actor"
        behaviour = NoisyActorBehaviour(
            str(actor) if k > 0 else None, space.low, space.high, config.collect_noise
        )  # round 0: random actions (MBPO's start); a resumed round k > 0 collects with round k-1's actor
        real = out / "real"
        target = min(config.real_steps, (k + 1) * config.round_real_steps)
        collect(
            task,
            target,
            real,
            behaviour=behaviour,
            seed=seed,
            shard_steps=config.round_real_steps,
            workers=1,
            progress=progress,
        )
        world = finetune_world(world, real, out / f"round-{k:03d}", config.finetune_steps, progress)
        round_config = dataclasses.replace(config, weights=str(world))
        real_used = EpisodeDataset(real).num_steps
        last = train_in_imagination(
            round_config,
            task,
            real,
            out / "policy",
            min(steps, (k + 1) * per_round),
            seed,
            progress,
            log_extra={"round": k, "real_steps": real_used},
            real_data=real if config.real_transitions else None,
        )
    return last
