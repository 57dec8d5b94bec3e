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
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cosmos_env.behaviour import BehaviourConfig
from cosmos_env.tasks import TaskConfig, UnknownTaskError, known_tasks
from cosmos_env.training import VAL_FRACTION
from worldmodels.stages import STAGE_CONFIGS
from worldmodels.train import TrainConfig


class CommandError(ValueError):
    """A command's settings do not fit together (reported without a traceback)."""


@dataclass
class CollectCommand:
    """Record episodes from the MuJoCo reference into a dataset directory."""

    task: TaskConfig
    out: str
    steps: int = 10000
    """At least this many steps (whole episodes)."""
    seed: int = 0
    shard_steps: int = 1000
    """Steps per shard file."""
    workers: int = 0
    """Processes; 0: one per CPU core."""
    progress: bool = True
    steps_after_termination: int = 0
    """Keep stepping this long after the task terminates."""
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    styles: str | None = None
    """``random``: also store each frame in a random appearance style (one per episode), for Transfer."""


@dataclass
class DemoCommand:
    """The main job: a trained policy for one episode in MuJoCo and in imagination, side by side."""

    task: TaskConfig
    out: str = "outputs/demo"
    weights: str | None = None
    """A world model directory; None: the shipped model of the task."""
    policy: str = "best"
    """``best`` (the best of the task's shipped SAC ladder), ``random`` (smooth random
    actions, the same in both worlds) or an actor directory."""
    steps: int = 1000
    """At most this many steps (an episode also ends where its world ends it)."""
    seed: int = 0
    """The MuJoCo reset seed both start from."""
    fps: int = 30
    device: str = "cpu"
    progress: bool = True


@dataclass
class EvaluateCommand:
    """Judge imagination against MuJoCo: paired rollouts of policies, ranking, report, plots, videos."""

    task: TaskConfig
    out: str
    policies: Any = "ladder"
    """``ladder`` (the task's shipped seed-B SAC ladder), ``random``, an actor directory, a
    folder of them, or a list of these (``policies=[ladder,random]``)."""
    weights: str | None = None
    """A world model directory; None: the shipped model of the task."""
    seeds: int = 10
    """How many reset seeds (first_seed, first_seed + 1, ...), the same in both worlds."""
    first_seed: int = 0
    horizon: int = 1000
    """Closed-loop steps at most (an episode also ends where its world ends it)."""
    open_loop_horizon: int = 200
    """Steps of MuJoCo's actions replayed in imagination (0: none)."""
    frame_stride: int = 10
    """Frames are compared every this many steps."""
    video: bool = True
    """A side-by-side MP4 per policy (the first seed)."""
    device: str = "cpu"
    progress: bool = True
    baseline: str | None = None
    """The ``out`` of an earlier evaluation of the same policies and seeds with another world
    model (e.g. docs/evaluation/hopper-v0): the report adds the ranking gains over it."""


@dataclass
class TrainCommand:
    """Train a stage (tokenizer, predict, reason, ..., or a policy in imagination); resumes after a kill."""

    task: TaskConfig
    train: TrainConfig
    stage: Any
    """The stage's settings: one of :data:`worldmodels.stages.STAGE_CONFIGS`, picked by ``stage=<name>``."""
    data: str
    """A dataset from ``cosmos-env collect``."""
    out: str
    """The run directory."""
    val_fraction: float = VAL_FRACTION
    """Share of episodes held out for validation (the last ones)."""
    init: str | None = None
    """Start from these weights (a model directory of the same stage and shape); not a resume."""


@dataclass
class ExportCommand:
    """Put trained tokenizer, predict and reason models together as one world model directory."""

    task: TaskConfig
    tokenizer: str
    predict: str
    reason: str | None
    """None: no critic (the env then cannot give rewards)."""
    out: str
    rollout_context_noise: float | None = None
    """Written into Predict's config: noise given to imagined context frames (None: as trained)."""
    rollout_sampler_steps: int | None = None
    """Written into Predict's config: sampler steps per imagined frame by default (None: as trained)."""
    decoder_age: bool = True
    """False: drop the decoder's age conditioning (imagined frames drawn as real ones)."""
    transfer: str | None = None
    """A Transfer model (stage=transfer), shipped as ``transfer/``: the env's ``style=`` then works."""


@dataclass
class CurateCommand:
    """Drop near-static clips and near-duplicates of a dataset (a curation file for training)."""

    data: str
    tokenizer: str | None = None
    """The tokenizer whose latents are compared; None: the shipped one of the dataset's task."""
    out: str | None = None
    """The curation file; None: ``<data>/curation.json``."""
    clip: int = 8
    static_fraction: float = 0.1
    duplicate_fraction: float = 0.05


@dataclass
class DreamsCommand:
    """Demos -> fine-tuned Predict -> dreams -> Reason filter -> IDM labels -> BC -> MuJoCo (policies/dreams.py)."""

    task: TaskConfig
    out: str
    weights: str | None = None
    """The world model to fine-tune; None: the task's shipped one."""
    demo_actor: str | None = None
    """An actor directory; None: the best of the task's shipped seed-A ladder."""
    demo_episodes: int = 10
    idm_data_steps: int = 20_000
    """MuJoCo steps (mixed behaviour: random, smooth, the seed-A ladder with noise) the IDM learns from."""
    idm_obs: str = "both"
    """What the IDM reads: ``state``, ``pixels`` or ``both`` (imagined frames and observations)."""
    idm_steps: int = 3_000
    finetune_steps: int = 500
    """Predict training steps on the demos."""
    bc_steps: int = 3_000
    starts: int = 64
    """New starts to dream from."""
    candidates: int = 4
    """Dreams per start; the best by Reason is kept (1: nothing to choose)."""
    dream_steps: int = 100
    action_noise: float = 0.3
    """Std of the Gaussian noise on BC's actions that drive the dreams (half-range units)."""
    eval_episodes: int = 10
    batch_size: int = 64
    """Training batch of the IDM and BC runs."""
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("demo_episodes", "starts", "candidates", "dream_steps", "eval_episodes", "finetune_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.idm_obs not in ("state", "pixels", "both"):
            raise ValueError(f"idm_obs must be state, pixels or both, got {self.idm_obs!r}")


@dataclass
class VerifyCommand:
    """Check the SHA-256 of every model, actor, dataset shard and checkpoint under a path."""

    path: str


def run_verify(cfg: VerifyCommand) -> None:
    from cosmos_env.verify import verify

    results = verify(cfg.path)
    for file, status in results.items():
        print(f"{status:9s} {file}")
    counts = {s: list(results.values()).count(s) for s in ("ok", "damaged", "missing", "unchecked")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({len(results)} files)")
    if counts["damaged"] or counts["missing"]:
        bad = f"{counts['damaged']} damaged and {counts['missing']} missing file(s)"
        raise CommandError(f"{bad}: re-download, re-export or re-collect them")


def run_curate(cfg: CurateCommand) -> None:
    import imageio.v3 as iio
    import numpy as np

    from cosmos_env.curate import CurationSettings, curate, strip, write_curation
    from cosmos_env.data import EpisodeDataset
    from cosmos_env.shipped import weights_dir
    from cosmos_env.training import cached_latents, latents_cache

    settings = CurationSettings(cfg.clip, cfg.static_fraction, cfg.duplicate_fraction)
    episodes = EpisodeDataset(cfg.data)
    tokenizer = cfg.tokenizer or weights_dir(episodes.meta["task"]["name"]) / "tokenizer"
    out = Path(cfg.out) if cfg.out else Path(cfg.data) / "curation.json"
    latents = cached_latents(tokenizer, episodes, latents_cache(cfg.data, tokenizer, out.parent))
    obs = [np.asarray(episodes.episode(i, ("obs",))["obs"]) for i in range(len(episodes))]
    record = curate(latents, obs, episodes.meta["dataset_id"], settings)
    write_curation(out, record, tokenizer)
    examples = record["examples"]["static"][:4] + record["examples"]["duplicate"][:4]
    if examples:
        iio.imwrite(out.with_suffix(".png"), strip(episodes, examples, settings.clip))
    dropped = record["dropped"]
    print(
        f"{record['clips']} clips of {settings.clip} rows: kept {record['kept_clips']}, dropped "
        f"{dropped['static']} near-static and {dropped['duplicate']} near-duplicate -> {out}"
        + (f" (examples: {out.with_suffix('.png')}, static rows first)" if examples else "")
    )


def run_train(cfg: TrainCommand) -> None:
    import torch

    if cfg.stage.name == "policy":
        from policies.dyna import dyna
        from policies.sb3 import train_in_imagination

        where = (cfg.stage, cfg.task)
        if cfg.stage.real_steps:  # the Dyna loop collects its own real data
            last = dyna(*where, cfg.out, cfg.train.steps, cfg.train.seed, cfg.train.progress)
        else:
            last = train_in_imagination(*where, cfg.data, cfg.out, cfg.train.steps, cfg.train.seed, cfg.train.progress)
        print(
            f"trained {cfg.stage.algo} in imagination for {last['steps']} steps: MuJoCo return "
            f"{last['mujoco_return']:.1f} +- {last['mujoco_return_std']:.1f} over {len(last['mujoco_returns'])} "
            f"episodes -> {last['actor_dir']} (log: {last['log']})"
        )
        return

    from cosmos_env.training import STAGES
    from policies.stages import POLICY_STAGES
    from worldmodels.train import train

    torch.manual_seed(cfg.train.seed)  # the model's initial weights: a fresh run is reproducible
    stage = {**STAGES, **POLICY_STAGES}[type(cfg.stage)](cfg.stage, cfg.data, cfg.out, cfg.val_fraction)
    if cfg.init is not None:  # warm start (e.g. from shipped weights); not a resume
        from worldmodels.checkpoint import load_state

        load_state(stage.model, Path(cfg.init) / "model.safetensors")
    final = train(stage, cfg.train)
    if os.environ.get("RANK", "0") == "0":
        print(f"trained {cfg.stage.name}: {final}")


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
        styles=cfg.styles,
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
        policy=cfg.policy,
        steps=cfg.steps,
        seed=cfg.seed,
        fps=cfg.fps,
        device=cfg.device,
        progress=cfg.progress,
    )
    print(f"wrote {cfg.out}/: " + ", ".join(summary["files"]) + ", summary.json")
    print({k: v for k, v in summary.items() if k != "files"})


def run_evaluate(cfg: EvaluateCommand) -> None:
    from cosmos_env.report import run_evaluation

    for name in ("seeds", "horizon", "frame_stride"):
        if getattr(cfg, name) < 1:
            raise CommandError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.open_loop_horizon < 0:
        raise CommandError(f"open_loop_horizon must be >= 0, got {cfg.open_loop_horizon}")
    policies = cfg.policies if isinstance(cfg.policies, str) else [str(p) for p in cfg.policies]
    report = run_evaluation(
        policies,
        cfg.out,
        task=cfg.task,
        weights=cfg.weights,
        seeds=list(range(cfg.first_seed, cfg.first_seed + cfg.seeds)),
        horizon=cfg.horizon,
        open_loop_horizon=cfg.open_loop_horizon,
        frame_stride=cfg.frame_stride,
        video=cfg.video,
        device=cfg.device,
        progress=cfg.progress,
        baseline=cfg.baseline,
    )
    print(f"wrote {cfg.out}/report.md, report.json, plots and videos ({len(report['results'])} policies)")
    gains = report.get("versus_baseline", {}).get("gains", {})
    for variant, r in report["ranking"].items():
        s = {k: "n/a" if v is None else f"{v:.2f}" for k, v in r["spearman"].items()}
        line = f"  {variant}: Spearman {s['value']} [{s['ci95_low']}, {s['ci95_high']}]"
        if variant in gains:
            g = gains[variant]["spearman"]
            line += f"; vs baseline {g['value']:+.2f} [{g['ci95_low']:+.2f}, {g['ci95_high']:+.2f}]"
        print(line)


def run_export(cfg: ExportCommand) -> None:
    from cosmos_env.export import export_world_model

    sampling = {"rollout_context_noise": cfg.rollout_context_noise, "rollout_sampler_steps": cfg.rollout_sampler_steps}
    out = export_world_model(
        cfg.tokenizer, cfg.predict, cfg.reason, cfg.out, sampling, decoder_age=cfg.decoder_age, transfer=cfg.transfer
    )
    print(f'wrote {out}/: use it with gym.make("cosmos_env/WorldModel-v0", weights="{out}")')


def run_dreams_command(cfg: DreamsCommand) -> None:
    from policies.dreams import run_dreams

    report = run_dreams(cfg)
    print(f"wrote {cfg.out}/report.json; MuJoCo return over {len(report['eval_seeds'])} seeds:")
    for name, mean in report["mean"].items():
        gain = report["gain_vs_bc_demos"].get(name)
        vs = f"  ({gain['mean']:+.1f} +- {gain['ci95_half_width']:.1f} vs bc demos)" if gain else ""
        print(f"  {name:40s} {mean:8.1f}{vs}")


COMMANDS: dict[str, tuple[type, Callable]] = {
    "collect": (CollectCommand, run_collect),
    "demo": (DemoCommand, run_demo_command),
    "evaluate": (EvaluateCommand, run_evaluate),
    "train": (TrainCommand, run_train),
    "export": (ExportCommand, run_export),
    "curate": (CurateCommand, run_curate),
    "verify": (VerifyCommand, run_verify),
    "dreams": (DreamsCommand, run_dreams_command),
}


def compose(command: str, overrides: list[str]) -> object:
    """The typed config of ``command`` with Hydra ``overrides`` applied."""
    try:
        return OmegaConf.to_object(_merged(command, overrides))
    except (OmegaConfBaseException, ValueError) as e:  # a value of the wrong type, or out of range
        raise CommandError(str(e).strip()) from None


def command_help(command: str, overrides: list[str]) -> str:
    """``cosmos-env <command> --help``: the settings after ``overrides``, with their docs."""
    from cosmos_env.cli_help import command_help as help_text

    values = OmegaConf.to_container(_merged(command, overrides), resolve=True, throw_on_missing=False)
    return help_text(command, COMMANDS[command][0], values, STAGE_CONFIGS)


def _merged(command: str, overrides: list[str]) -> DictConfig:
    """``command``'s YAML with ``overrides`` over its dataclass schema (not yet validated)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException, MissingConfigException

    _register_schemas()
    schema, _ = COMMANDS[command]
    with initialize_config_module(config_module="cosmos_env.conf", version_base="1.3"):
        try:
            cfg = hydra_compose(config_name=command, overrides=overrides)
        except MissingConfigException:
            for key, _, value in reversed([o.partition("=") for o in overrides]):
                if key.lstrip("+~") == "task":
                    raise UnknownTaskError(f"unknown task {value!r}; known tasks: {', '.join(known_tasks())}") from None
                if key.lstrip("+~") == "stage":
                    raise CommandError(f"unknown stage {value!r}; known: {', '.join(STAGE_CONFIGS)}") from None
            raise
        except (HydraException, OmegaConfBaseException) as e:  # a bad override: say which, no traceback
            cause = str(e.__cause__).splitlines()[0] if e.__cause__ else ""
            raise CommandError(f"{str(e).strip()}{': ' + cause if cause else ''}") from None
    try:
        return OmegaConf.merge(_unfrozen(schema), cfg)
    except (OmegaConfBaseException, ValueError) as e:  # a value of the wrong type
        raise CommandError(str(e).strip()) from None


def _register_schemas() -> None:
    """Each command's dataclass as ``<command>_schema`` and each stage's as ``stage/<name>_schema``,
    the first entry of the YAML's defaults list: the defaults live in the dataclasses alone."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name, (schema, _) in COMMANDS.items():
        store.store(name=f"{name}_schema", node=_unfrozen(schema))
    for name, schema in STAGE_CONFIGS.items():
        store.store(group="stage", name=f"{name}_schema", node=_unfrozen(schema))


def _unfrozen(schema: type) -> DictConfig:
    """A dataclass as a structured config that merges can fill (frozen dataclasses give read-only nodes)."""
    node = OmegaConf.structured(schema)
    _clear_readonly(node)
    return node


def _clear_readonly(node: DictConfig) -> None:
    OmegaConf.set_readonly(node, False)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _clear_readonly(child)


def usage() -> str:
    lines = ["usage: cosmos-env <command> [key=value ...] [--traceback] [--help]", "", "commands:"]
    lines += [f"  {name:10s} {schema.__doc__.strip().splitlines()[0]}" for name, (schema, _) in COMMANDS.items()]
    lines += ["", f"tasks: {', '.join(known_tasks())}", "config: cosmos_env/conf/<command>.yaml"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    traceback = "--traceback" in argv
    argv = [a for a in argv if a != "--traceback"]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"cosmos-env: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    asks_help = [a for a in overrides if a in ("-h", "--help")]
    overrides = [a for a in overrides if a not in asks_help]
    try:
        if asks_help:
            print(command_help(command, overrides))
            return 0
        cfg = compose(command, overrides)
        COMMANDS[command][1](cfg)
    except (ValueError, FileNotFoundError) as e:  # usage errors: ours are ValueErrors naming the fix
        if traceback:
            raise
        print(f"cosmos-env {command}: {e}\n(run again with --traceback for the full error)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
