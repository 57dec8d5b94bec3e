"""Dreams (GR00T-Dreams / DreamGen): a few demonstrations -> Predict fine-tuned on them ->
many imagined trajectories from new starts -> the best kept by Reason -> actions labelled
by an inverse dynamics model -> behaviour cloning on demonstrations + dreams -> MuJoCo.

``cosmos-env dreams task=hopper out=runs/hopper/dreams`` runs :func:`run_dreams` (settings:
:class:`cosmos_env.cli.DreamsCommand`); every
phase writes its own folder under ``out`` and is skipped when it is there, so the command
resumes::

    demos/           demo_episodes episodes of the demo actor (default: the best seed-A ladder actor)
    idm_data/, idm/  MuJoCo episodes of mixed behaviour, and the IDM trained on them
    finetune/world/  the world model with Predict fine-tuned on the demos
    bc_demos/        BC on the demos alone (it also drives the dreams, with action noise)
    dreams/          every dream: obs, IDM actions, Reason's plausibility, return, kept or not
    with_reason/     dataset: demos + the best of ``candidates`` dreams per start (by Reason)
    without_reason/  dataset: demos + the first dream per start (no filter; as many dreams)
    bc_with_reason/, bc_without_reason/   BC on each
    report.json      MuJoCo returns of each policy over eval seeds, paired gains vs demos alone

A dream's score is the sum of its z-scores, among the candidates of its start, of mean
plausibility (Reason: real-looking) and return (the env's reward): best-of-N on both.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cosmos_env.tasks import TaskConfig

if TYPE_CHECKING:
    from cosmos_env.cli import DreamsCommand  # the settings, with their defaults

DREAM_SEED = 2_000_000
"""Dreams start from MuJoCo reset seeds DREAM_SEED + j: starts no demo had."""
EVAL_SEED = 3_000_000
"""The policies are judged in MuJoCo from reset seeds EVAL_SEED + i."""


def _train(stage: Any, out: Path, cfg: DreamsCommand, steps: int) -> Path:
    from worldmodels.train import TrainConfig, train

    every = max(1, steps // 4)
    config = TrainConfig(
        out=str(out),
        steps=steps,
        batch_size=cfg.batch_size,
        val_every=every,
        ckpt_every=every,
        ema=0.99,
        progress=cfg.progress,
    )
    return train(stage, config)


def _bc(data: Path, out: Path, cfg: DreamsCommand) -> Path:
    from policies.stages import BCStage
    from worldmodels.stages import BCStageConfig

    if (out / "model" / "config.json").is_file():
        return out / "model"
    return _train(BCStage(BCStageConfig(obs="state"), data, out), out, cfg, cfg.bc_steps)


def demo_actor(cfg: DreamsCommand) -> str:
    """``cfg.demo_actor``, or the best actor of the task's shipped seed-A ladder."""
    from cosmos_env.report import best_ladder_actor

    return cfg.demo_actor or best_ladder_actor(cfg.task.name, "seed-a")


def _demos_and_idm(cfg: DreamsCommand, out: Path) -> tuple[Path, Path]:
    from cosmos_env.behaviour import BehaviourConfig
    from cosmos_env.collect import collect
    from cosmos_env.reference import MujocoReference
    from cosmos_env.report import ladder_dir
    from policies.dyna import NoisyActorBehaviour
    from policies.stages import IDMStage
    from worldmodels.stages import IDMStageConfig

    actor = demo_actor(cfg)
    with MujocoReference(cfg.task) as ref:
        low, high = ref.action_space.low, ref.action_space.high
    demos = out / "demos"
    steps = cfg.demo_episodes * cfg.task.max_episode_steps
    collect(
        cfg.task,
        steps,
        demos,
        NoisyActorBehaviour(actor, low, high, 0.0),
        shard_steps=steps,
        workers=1,
        progress=cfg.progress,
    )
    mix = BehaviourConfig(name="mix", ladder=str(ladder_dir(cfg.task.name, "seed-a")))
    collect(cfg.task, cfg.idm_data_steps, out / "idm_data", mix, seed=1, progress=cfg.progress)
    idm = out / "idm" / "model"
    if not (idm / "config.json").is_file():
        idm = _train(
            IDMStage(IDMStageConfig(obs=cfg.idm_obs), out / "idm_data", out / "idm"), out / "idm", cfg, cfg.idm_steps
        )
    return demos, idm


@torch.no_grad()
def imagine_dreams(cfg: DreamsCommand, world: Path, bc: Path, idm_dir: Path) -> dict[str, np.ndarray]:
    """``starts x candidates`` dreams of ``dream_steps`` from MuJoCo reset seeds DREAM_SEED + j,
    driven by the BC policy plus noise; returns obs (M, T+1, D), IDM actions (M, T, A),
    rewards (M, T), steps (M,) (a dream ends where its world terminates it),
    plausibility (M,) (mean over its steps), start (M,), score (M,) and kept (M,) bool."""
    from gymnasium.vector import AutoresetMode

    from cosmos_env.vector import WorldModelVectorEnv
    from policies.bc import BCPolicy
    from policies.idm import label_clip
    from worldmodels.checkpoint import from_pretrained

    idm = from_pretrained(idm_dir, expected_class="IDMModel").eval()
    pixels = idm.config.pixels
    k, m, t = cfg.candidates, cfg.starts * cfg.candidates, cfg.dream_steps
    env = WorldModelVectorEnv(
        num_envs=m,
        weights=world,
        obs_mode="dict" if pixels else "state",
        device=cfg.device,
        autoreset_mode=AutoresetMode.DISABLED,
    )
    policy, rng = BCPolicy.load(bc), np.random.default_rng(0)
    low, high = env.single_action_space.low, env.single_action_space.high
    start = np.repeat(np.arange(cfg.starts), k)
    obs, _ = env.reset(seed=[DREAM_SEED + int(j) for j in start])
    state = lambda o: o["state"] if pixels else o  # noqa: E731
    states, frames = [state(obs)], [obs["pixels"]] if pixels else []
    rewards, plaus = np.zeros((m, t)), np.zeros((m, t))
    steps, alive = np.zeros(m, np.int64), np.ones(m, bool)
    for i in range(t):
        action = policy.act(state(obs)) + rng.normal(0, cfg.action_noise, (m, len(low))) * (high - low) / 2
        obs, reward, terminated, _, info = env.step(np.clip(action, low, high).astype(np.float32))
        rewards[:, i], plaus[:, i] = reward * alive, info["plausibility"] * alive
        steps += alive
        alive &= ~terminated
        states.append(state(obs))
        if pixels:
            frames.append(obs["pixels"])
    env.close()
    obs_t = torch.as_tensor(np.stack(states, 1), dtype=torch.float32)  # (M, T+1, D)
    frames_t = torch.as_tensor(np.stack(frames, 1)) if pixels else None  # (M, T+1, H, W, 3)
    actions = label_clip(idm, obs_t if idm.config.with_state or not pixels else None, frames_t).numpy()
    returns, mean_plaus = rewards.sum(1), plaus.sum(1) / np.maximum(steps, 1)
    z = lambda x: (x - x.reshape(-1, k).mean(1).repeat(k)) / (x.reshape(-1, k).std(1).repeat(k) + 1e-8)  # noqa: E731
    score = z(returns) + z(mean_plaus)
    kept = np.zeros(m, bool)
    kept[np.arange(cfg.starts) * k + score.reshape(-1, k).argmax(1)] = True
    return {
        "obs": obs_t.numpy(),
        "actions": actions.astype(np.float32),
        "rewards": rewards,
        "steps": steps,
        "plausibility": mean_plaus,
        "returns": returns,
        "start": start,
        "score": score,
        "kept": kept,
    }


def write_bc_dataset(
    out: Path, task: TaskConfig, demos: Path, dreams: dict[str, np.ndarray], chosen: np.ndarray
) -> Path:
    """A dataset of state rows (obs, action, reward, terminated, truncated): every demo
    episode, then the ``chosen`` dreams (each cut at its end) with their IDM actions."""
    from cosmos_env.data import FORMAT, VERSION, EpisodeDataset, write_index, write_shard
    from worldmodels.io import atomic_write_json

    if (out / "index.json").is_file():
        return out
    fields = ("obs", "action", "reward", "terminated", "truncated")
    source = EpisodeDataset(demos)
    episodes = [source.episode(i, fields) for i in range(len(source))]
    for i in np.flatnonzero(chosen):
        n = int(dreams["steps"][i])
        episodes.append(
            {
                "obs": dreams["obs"][i, : n + 1],
                "action": np.concatenate([dreams["actions"][i, :n], np.zeros_like(dreams["actions"][i, :1])]),
                "reward": np.append(dreams["rewards"][i, :n], 0).astype(np.float32),
                "terminated": np.zeros(n + 1, bool),
                "truncated": np.zeros(n + 1, bool),
            }
        )
    dataset_id = uuid.uuid4().hex
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "dataset_id": dataset_id,
        "task": dataclasses.asdict(task),
        "behaviour": f"dreams: demos {demos} + {int(chosen.sum())} dreams",
    }
    atomic_write_json(out / "meta.json", meta)
    arrays = {f: np.concatenate([e[f] for e in episodes]) for f in fields}
    arrays["episode_offsets"] = np.cumsum([0] + [len(e["obs"]) for e in episodes]).astype(np.int64)
    arrays["episode_seeds"] = np.full(len(episodes), -1, np.int64)
    write_shard(out, 0, dataset_id, arrays, {})
    write_index(out, dataset_id, 1)
    return out


def run_dreams(cfg: DreamsCommand) -> dict[str, Any]:
    """The whole pipeline (resuming what is done); returns the report (also ``out/report.json``)."""
    from cosmos_env.evaluate import mujoco_returns
    from cosmos_env.vector import resolve_weights
    from policies.actor import MLPActor
    from policies.bc import BCPolicy
    from policies.dyna import finetune_world
    from worldmodels.io import atomic_save_safetensors, atomic_write_json, memmap_safetensors
    from worldmodels.metrics import paired_gain

    out = Path(cfg.out)
    demos, idm = _demos_and_idm(cfg, out)
    world = finetune_world(
        resolve_weights(cfg.weights, cfg.task), demos, out / "finetune", cfg.finetune_steps, cfg.progress
    )
    bc_demos = _bc(demos, out / "bc_demos", cfg)
    store = out / "dreams" / "dreams.safetensors"
    if store.is_file():
        dreams = {k: np.asarray(v) for k, v in memmap_safetensors(store)[0].items()}
    else:
        dreams = imagine_dreams(cfg, world, bc_demos, idm)
        store.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_safetensors(store, dreams)
    first = np.zeros_like(dreams["kept"])
    first[:: cfg.candidates] = True
    policies = {"demo actor": None, "bc demos": bc_demos}
    for name, chosen in (("with_reason", dreams["kept"]), ("without_reason", first)):
        data = write_bc_dataset(out / name, cfg.task, demos, dreams, chosen)
        policies[f"bc demos + dreams ({name.replace('_', ' ')})"] = _bc(data, out / f"bc_{name}", cfg)
    seeds = [EVAL_SEED + i for i in range(cfg.eval_episodes)]
    returns = {}
    for name, path in policies.items():
        policy = MLPActor.load(demo_actor(cfg)) if path is None else BCPolicy.load(path)
        returns[name] = mujoco_returns(policy, cfg.task, seeds)
    base = torch.as_tensor(returns["bc demos"])
    report = {
        "task": cfg.task.name,
        "eval_seeds": seeds,
        "returns": {k: [float(x) for x in v] for k, v in returns.items()},
        "mean": {k: float(v.mean()) for k, v in returns.items()},
        "gain_vs_bc_demos": {
            k: dict(zip(("mean", "ci95_half_width"), paired_gain(torch.as_tensor(v), base)))
            for k, v in returns.items()
            if k.startswith("bc demos +")
        },
        "dreams": {
            "count": len(dreams["kept"]),
            "kept": int(dreams["kept"].sum()),
            "mean_steps": float(dreams["steps"].mean()),
            "return_kept": float(dreams["returns"][dreams["kept"]].mean()),
            "return_all": float(dreams["returns"].mean()),
            "plausibility_kept": float(dreams["plausibility"][dreams["kept"]].mean()),
            "plausibility_all": float(dreams["plausibility"].mean()),
        },
        "settings": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "task"},
    }
    atomic_write_json(out / "report.json", report)
    return report
