"""``cosmos-env <command> [hydra overrides]``.

Each command has a YAML file under ``cosmos_env/conf/`` and a dataclass here that types
it; Hydra composes the YAML with the overrides (``task=walker2d steps=500``), OmegaConf
checks it against the dataclass, and the command gets a plain dataclass.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cosmos_env.behaviour import BehaviourConfig
from cosmos_env.data import DatasetError
from cosmos_env.tasks import TaskConfig, UnknownTaskError, known_tasks
from worldmodels.checkpoint import CheckpointError
from worldmodels.train import TrainConfig


class CommandError(ValueError):
    """A command's settings do not fit together (reported without a traceback)."""


@dataclass
class CollectCommand:
    """Record episodes from the MuJoCo reference into a dataset directory."""

    task: TaskConfig
    out: str
    steps: int = 10000
    seed: int = 0
    shard_steps: int = 1000
    workers: int = 0
    progress: bool = True
    steps_after_termination: int = 0
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)


@dataclass
class DemoCommand:
    """The main job: one episode in imagination and in MuJoCo, side by side (video, strip, summary)."""

    task: TaskConfig
    out: str = "outputs/demo"
    weights: str | None = None
    steps: int = 200
    seed: int = 0
    fps: int = 30
    device: str = "cpu"
    progress: bool = True


@dataclass
class TrainCommand:
    """Train a model stage (tokenizer, predict, reason, decoder) on a dataset; resumes after a kill."""

    task: TaskConfig
    train: TrainConfig
    stage: str = "tokenizer"
    data: str = "data/hopper"
    out: str = "runs/hopper/tokenizer"
    size: str = "small"
    tokenizer: str = "runs/hopper/tokenizer/model"
    predict: str | None = "runs/hopper/predict/model"
    context: int = 4
    context_noise: float = 0.3
    clip: int = 4
    imagined: int = 2048
    horizon: int = 4
    age_buckets: int = 0
    age_only: bool = False
    val_fraction: float = 0.05
    init: str | None = None


@dataclass
class ExportCommand:
    """Put trained tokenizer, predict and reason models together as one world model directory."""

    task: TaskConfig
    tokenizer: str = "runs/hopper/tokenizer/model"
    predict: str = "runs/hopper/predict/model"
    reason: str | None = "runs/hopper/reason/model"
    out: str = "runs/hopper/world_model"
    rollout_context_noise: float | None = None


def run_train(cfg: TrainCommand) -> None:
    from cosmos_env.training import DecoderStage, PredictStage, ReasonStage, TokenizerStage
    from worldmodels.train import train

    if cfg.stage == "tokenizer":
        stage = TokenizerStage(cfg.data, size=cfg.size, val_fraction=cfg.val_fraction)
    elif cfg.stage == "predict":
        stage = PredictStage(
            cfg.data,
            cfg.tokenizer,
            cfg.out,
            size=cfg.size,
            context=cfg.context,
            val_fraction=cfg.val_fraction,
            context_noise=cfg.context_noise,
        )
    elif cfg.stage == "reason":
        stage = ReasonStage(
            cfg.data,
            cfg.tokenizer,
            cfg.out,
            predict=cfg.predict,
            size=cfg.size,
            clip=cfg.clip,
            val_fraction=cfg.val_fraction,
            imagined=cfg.imagined,
        )
    elif cfg.stage == "decoder":
        if cfg.predict is None:
            raise CommandError(
                "stage=decoder trains on Predict's imagined latents: set predict=<a Predict model directory>"
            )
        stage = DecoderStage(
            cfg.data,
            cfg.tokenizer,
            cfg.predict,
            horizon=cfg.horizon,
            val_fraction=cfg.val_fraction,
            age_buckets=cfg.age_buckets,
            age_only=cfg.age_only,
        )
    else:
        raise CommandError(f"unknown stage {cfg.stage!r}; known: tokenizer, predict, reason, decoder")
    if cfg.init is not None:  # warm start (e.g. from shipped weights); not a resume
        from worldmodels.checkpoint import load_state

        load_state(stage.model, Path(cfg.init) / "model.safetensors")
    final = train(stage, cfg.train)
    if os.environ.get("RANK", "0") == "0":
        print(f"trained {cfg.stage}: {final}")


def run_collect(cfg: CollectCommand) -> None:
    from cosmos_env.collect import collect

    summary = collect(
        cfg.task,
        cfg.steps,
        cfg.out,
        behaviour=cfg.behaviour,
        seed=cfg.seed,
        shard_steps=cfg.shard_steps,
        workers=cfg.workers,
        progress=cfg.progress,
        steps_after_termination=cfg.steps_after_termination,
    )
    from cosmos_env import viz
    from cosmos_env.data import EpisodeDataset

    preview = viz.save_png(f"{cfg.out}/preview.png", viz.dataset_preview(EpisodeDataset(cfg.out)))
    print(summary)
    print(f"preview: {preview} (rows: rgb, depth, segmentation; columns: time)")


def run_demo_command(cfg: DemoCommand) -> None:
    from cosmos_env.demo import run_demo

    summary = run_demo(
        cfg.task,
        cfg.out,
        weights=cfg.weights,
        steps=cfg.steps,
        seed=cfg.seed,
        fps=cfg.fps,
        device=cfg.device,
        progress=cfg.progress,
    )
    print(f"wrote {cfg.out}/: " + ", ".join(summary["files"]) + ", summary.json")
    print({k: v for k, v in summary.items() if k != "files"})


def run_export(cfg: ExportCommand) -> None:
    from cosmos_env.training import export_world_model

    sampling = {"rollout_context_noise": cfg.rollout_context_noise}
    out = export_world_model(cfg.tokenizer, cfg.predict, cfg.reason, cfg.out, sampling)
    print(f'wrote {out}/: use it with gym.make("cosmos_env/WorldModel-v0", weights="{out}")')


COMMANDS: dict[str, tuple[type, Callable]] = {
    "collect": (CollectCommand, run_collect),
    "demo": (DemoCommand, run_demo_command),
    "train": (TrainCommand, run_train),
    "export": (ExportCommand, run_export),
}


def compose(command: str, overrides: list[str]) -> object:
    """The typed config of ``command`` with Hydra ``overrides`` applied."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import MissingConfigException

    schema, _ = COMMANDS[command]
    with initialize_config_module(config_module="cosmos_env.conf", version_base="1.3"):
        try:
            cfg = hydra_compose(config_name=command, overrides=overrides)
        except MissingConfigException:
            tasks = [value for key, _, value in (o.partition("=") for o in overrides) if key.lstrip("+~") == "task"]
            if tasks:
                raise UnknownTaskError(f"unknown task {tasks[-1]!r}; known tasks: {', '.join(known_tasks())}") from None
            raise
    typed = OmegaConf.structured(schema)
    _clear_readonly(typed)  # frozen dataclasses give read-only nodes, which merge cannot fill
    return OmegaConf.to_object(OmegaConf.merge(typed, cfg))


def _clear_readonly(node: DictConfig) -> None:
    OmegaConf.set_readonly(node, False)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _clear_readonly(child)


def usage() -> str:
    lines = ["usage: cosmos-env <command> [key=value ...]", "", "commands:"]
    lines += [f"  {name:10s} {schema.__doc__.strip().splitlines()[0]}" for name, (schema, _) in COMMANDS.items()]
    lines += ["", f"tasks: {', '.join(known_tasks())}", "config: cosmos_env/conf/<command>.yaml"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"cosmos-env: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        cfg = compose(command, overrides)
        COMMANDS[command][1](cfg)
    except (UnknownTaskError, DatasetError, CheckpointError, FileNotFoundError, CommandError) as e:
        print(f"cosmos-env {command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
