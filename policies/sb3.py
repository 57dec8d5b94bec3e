"""RL in imagination: SB3 SAC or PPO on the batched imagined env, judged in MuJoCo as it trains.

``cosmos-env train stage=policy stage.algo=sac task=hopper train.steps=200000 out=runs/hopper/sac``
runs :func:`train_in_imagination`: the algorithm steps ``num_envs`` imagined envs in one
world-model call (through :class:`cosmos_env.adapters.sb3.SB3VecEnv`), optionally from real
starts (a dataset's rows) with a short horizon (MBPO's branched rollouts). Every
``eval_every`` imagined steps :class:`MujocoEvalCallback` runs the deterministic actor in
the real MuJoCo task from the same reset seeds and logs both returns to
``<out>/eval.jsonl`` and tensorboard (``<out>/tb``), saves the actor
(``<out>/actors/step-<N>/``, safetensors + JSON, loadable by ``cosmos-env evaluate``) and
checkpoints the run (``<out>/checkpoint/``): the same command resumes after a kill.
:func:`train_in_mujoco` is the model-free baseline: the same algorithm, log and checkpoints
on the real MuJoCo task (``benchmarks/policy_bench.py`` sets one against the other).

The checkpoint is SB3's own zip and replay-buffer pickle of this run, read back only by
this module; the actors are what to share.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from cosmos_env.adapters.sb3 import SB3VecEnv
from cosmos_env.evaluate import mujoco_returns
from cosmos_env.tasks import TaskConfig
from cosmos_env.vector import WorldModelVectorEnv
from policies.actor import MLPActor, save_ppo_actor, save_sac_actor
from worldmodels.io import atomic_write_json
from worldmodels.stages import PolicyStageConfig

ALGOS: dict[str, type[BaseAlgorithm]] = {"sac": SAC, "ppo": PPO}

ALGO_DEFAULTS: dict[str, dict[str, Any]] = {
    "sac": {"buffer_size": 300_000, "learning_starts": 2_000, "gradient_steps": -1},
    "ppo": {"n_steps": 256, "batch_size": 256},
}
"""Where imagination differs from SB3's defaults: SAC with one update per imagined step
(``gradient_steps=-1``: as many as the vector step collected) and a smaller buffer; PPO
with shorter rollouts per env. ``stage.algo_kwargs`` overrides them."""

MUJOCO_DEFAULTS: dict[str, dict[str, Any]] = {"sac": {"learning_starts": 5_000}, "ppo": {}}
"""Model-free training on MuJoCo: SB3's defaults, SAC with the shipped ladders' 5k random steps first."""

EVAL_SEED = 1_000_000
"""MuJoCo evaluation seeds are EVAL_SEED, EVAL_SEED + 1, ...: never a ranking seed."""

SAVE_ACTOR: dict[str, Callable[..., Path]] = {"sac": save_sac_actor, "ppo": save_ppo_actor}


class MujocoEvalCallback(BaseCallback):
    """Every ``every`` training env steps (and at the end): the deterministic actor's MuJoCo
    returns from ``seeds`` (episodes of at most ``horizon`` steps; None: the task's length)
    and the mean return of the training episodes since the last evaluation, to
    ``<out>/eval.jsonl``, the SB3 logger and ``actors/step-<N>/``; then ``checkpoint(model,
    wall_s)``. ``wall_s`` counts training time across resumes from ``wall_before``."""

    def __init__(
        self,
        task: TaskConfig,
        algo: str,
        out: Path,
        every: int,
        seeds: list[int],
        checkpoint: Callable[[BaseAlgorithm, float], None],
        log_extra: dict[str, Any] | None = None,
        horizon: int | None = None,
        wall_before: float = 0.0,
    ) -> None:
        super().__init__()
        self.task, self.algo, self.out, self.every, self.seeds = task, algo, out, every, seeds
        self.checkpoint, self.log_extra, self.horizon = checkpoint, log_extra or {}, horizon
        self.next_eval = 0
        self.started = time.perf_counter() - wall_before
        self.episode_returns: list[float] = []

    def _on_training_start(self) -> None:
        self.next_eval = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "episode" in info:  # VecMonitor's end-of-episode record
                self.episode_returns.append(float(info["episode"]["r"]))
        if self.num_timesteps >= self.next_eval:
            self.evaluate()
            self.next_eval += self.every
        return True

    def evaluate(self) -> dict[str, Any]:
        step = int(self.num_timesteps)
        actor_dir = self.out / "actors" / f"step-{step:08d}"
        SAVE_ACTOR[self.algo](self.model, actor_dir, extra={"task": self.task.name, "algo": self.algo, "step": step})
        returns = mujoco_returns(MLPActor.load(actor_dir), self.task, self.seeds, self.horizon)
        wall = time.perf_counter() - self.started
        row = {
            "steps": step,
            "mujoco_return": float(returns.mean()),
            "mujoco_return_std": float(returns.std()),
            "mujoco_returns": [float(r) for r in returns],
            "train_return": float(np.mean(self.episode_returns)) if self.episode_returns else None,
            "train_episodes": len(self.episode_returns),
            "wall_s": round(wall, 1),
            "actor": str(actor_dir.relative_to(self.out)),
            **self.log_extra,
        }
        self.episode_returns = []
        with open(self.out / "eval.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        self.logger.record("eval/mujoco_return", row["mujoco_return"])
        if row["train_return"] is not None:
            self.logger.record("eval/train_return", row["train_return"])
        self.logger.dump(step)
        self.checkpoint(self.model, wall)
        return row


def make_imagined_env(config: PolicyStageConfig, task: TaskConfig, data: str | Path | None) -> WorldModelVectorEnv:
    """The batched imagined env the policy trains on (state observations)."""
    if config.real_starts and (data is None or not (Path(data) / "meta.json").is_file()):
        raise FileNotFoundError(
            f"stage.real_starts needs a dataset of {task.name} episodes at data={data} "
            f"(collect one: cosmos-env collect task={task.name} out={data}), or stage.real_starts=false"
        )
    return WorldModelVectorEnv(
        num_envs=config.num_envs,
        task=task,
        weights=config.weights,
        device=config.device,
        max_episode_steps=config.horizon or task.max_episode_steps,
        start_pool=data if config.real_starts else None,
    )


def save_checkpoint(model: BaseAlgorithm, out: Path, wall_s: float = 0.0, extra: dict[str, Any] | None = None) -> None:
    """``out/checkpoint/`` (model.zip, replay.pkl for off-policy algorithms, state.json with
    the steps and training seconds so far, and ``extra``), replaced whole: a kill leaves the
    previous one (or ``checkpoint.old``) intact."""
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save(tmp / "model.zip")
    if hasattr(model, "replay_buffer"):
        model.save_replay_buffer(tmp / "replay.pkl")
    state = {"num_timesteps": int(model.num_timesteps), "wall_s": round(wall_s, 1)} | (extra or {})
    atomic_write_json(tmp / "state.json", state)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def real_transitions(data: str | Path) -> dict[str, np.ndarray]:
    """Every transition of an episode dataset, in episode order: ``obs`` and ``next_obs``
    (N, D), ``action`` (N, A), ``reward`` (N,), ``terminated`` (N,) bool."""
    from cosmos_env.data import EpisodeDataset

    dataset = EpisodeDataset(data)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "next_obs", "action", "reward", "terminated")}
    for i in range(len(dataset)):
        e = dataset.episode(i, ("obs", "action", "reward", "terminated"))
        parts["obs"].append(e["obs"][:-1])
        parts["next_obs"].append(e["obs"][1:])
        for k in ("action", "reward", "terminated"):
            parts[k].append(e[k][:-1])
    return {k: np.concatenate(v) for k, v in parts.items()}


def add_real_transitions(model: BaseAlgorithm, data: str | Path, already: int) -> int:
    """Append dataset ``data``'s transitions after its first ``already`` (episode order) to
    ``model``'s replay buffer, in rows of its env count (a remainder waits for the next
    call); returns how many of ``data``'s transitions the buffer holds now. A real
    transition that ends in a terminal state is ``done``; one cut by the time limit is not."""
    n = model.n_envs
    real = real_transitions(data)
    count = already + (len(real["reward"]) - already) // n * n
    for start in range(already, count, n):
        rows = {k: v[start : start + n] for k, v in real.items()}
        model.replay_buffer.add(
            rows["obs"],
            rows["next_obs"],
            model.policy.scale_action(rows["action"]),
            rows["reward"],
            rows["terminated"],
            [{"TimeLimit.truncated": False}] * n,
        )
    return count


def _latest_checkpoint(out: Path) -> Path | None:
    for name in ("checkpoint", "checkpoint.old"):
        if (out / name / "state.json").is_file():
            return out / name
    return None


def read_eval_log(log: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's ``eval.jsonl`` (one MuJoCo check each, oldest first); [] when
    there is no log yet."""
    log = Path(log)
    lines = log.read_text().splitlines() if log.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def _trim_log(log: Path, step: int) -> None:
    """Drop evaluations made after the checkpoint a resumed run starts from."""
    if log.is_file():
        log.write_text("".join(json.dumps(r) + "\n" for r in read_eval_log(log) if r["steps"] <= step))


def train_in_imagination(
    config: PolicyStageConfig,
    task: TaskConfig,
    data: str | Path | None,
    out: str | Path,
    steps: int,
    seed: int = 0,
    progress: bool = True,
    log_extra: dict[str, Any] | None = None,
    real_data: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``config.algo`` until ``steps`` imagined env steps (resuming ``out`` where a run
    stopped); returns the last evaluation row (with ``log_extra`` in every row), plus where
    the actor (``actor_dir``) and the log (``log``) are. ``real_data``: a dataset whose
    transitions (those not yet there) join the replay buffer first (SAC only). Raises
    FileNotFoundError when real starts lack a dataset, ValueError for unknown ``algo_kwargs``."""
    env = VecMonitor(SB3VecEnv(make_imagined_env(config, task, data)))
    kwargs = {**ALGO_DEFAULTS[config.algo], **dict(config.algo_kwargs)}
    extra = {"trained_in": "imagination"} | (log_extra or {})
    return _train(config, task, env, kwargs, Path(out), steps, seed, progress, extra, real_data)


def train_in_mujoco(
    config: PolicyStageConfig,
    task: TaskConfig,
    out: str | Path,
    steps: int,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """The model-free baseline: ``config.algo`` on the real MuJoCo task (one env, SB3's
    defaults with :data:`MUJOCO_DEFAULTS` and ``config.algo_kwargs``) for ``steps`` real
    steps, logged, evaluated and checkpointed as :func:`train_in_imagination` does (the
    world-model fields of ``config`` go unused); returns the last evaluation row."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from cosmos_env.reference import make_mujoco

    env = VecMonitor(DummyVecEnv([lambda: make_mujoco(task.gym_id)]))
    kwargs = {**MUJOCO_DEFAULTS[config.algo], **dict(config.algo_kwargs)}
    return _train(config, task, env, kwargs, Path(out), steps, seed, progress, {"trained_in": "mujoco"})


def _train(
    config: PolicyStageConfig,
    task: TaskConfig,
    env: VecMonitor,
    kwargs: dict[str, Any],
    out: Path,
    steps: int,
    seed: int,
    progress: bool,
    log_extra: dict[str, Any],
    real_data: str | Path | None = None,
) -> dict[str, Any]:
    """Train on ``env`` until ``steps`` env steps, resuming ``out``; see :func:`train_in_imagination`."""
    out.mkdir(parents=True, exist_ok=True)
    env.seed(seed)
    algo = ALGOS[config.algo]
    resume = _latest_checkpoint(out)
    wall_before, state = 0.0, {}
    if resume is not None:
        model = algo.load(resume / "model.zip", env=env, device="cpu")  # this run's own file
        if (resume / "replay.pkl").is_file():
            model.load_replay_buffer(resume / "replay.pkl")
        state = json.loads((resume / "state.json").read_text())
        wall_before = float(state.get("wall_s", 0.0))
        _trim_log(out / "eval.jsonl", model.num_timesteps)
    else:
        try:
            model = algo("MlpPolicy", env, seed=seed, device="cpu", tensorboard_log=str(out / "tb"), **kwargs)
        except TypeError as e:
            env.close()
            raise ValueError(f"stage.algo_kwargs: {e}") from None
        _trim_log(out / "eval.jsonl", -1)
    saved = {k: state[k] for k in ("real_transitions",) if k in state}  # the real transitions the buffer holds
    if real_data is not None:
        saved["real_transitions"] = add_real_transitions(model, real_data, saved.get("real_transitions", 0))
    atomic_write_json(out / "config.json", {"stage": _plain(config), "task": task.name, "steps": steps, "seed": seed})
    seeds = [EVAL_SEED + i for i in range(config.eval_episodes)]
    callback = MujocoEvalCallback(
        task,
        config.algo,
        out,
        config.eval_every,
        seeds,
        lambda m, wall: save_checkpoint(m, out, wall, saved),
        log_extra,
        config.eval_horizon,
        wall_before,
    )
    remaining = steps - model.num_timesteps
    try:
        if remaining > 0:
            model.learn(
                remaining, callback=callback, reset_num_timesteps=False, progress_bar=progress, tb_log_name="run"
            )
        last = (read_eval_log(out / "eval.jsonl") or [None])[-1]
        if last is None or last["steps"] < model.num_timesteps:
            callback.init_callback(model)
            last = callback.evaluate()
    finally:
        env.close()
    tmp = out / "actor.tmp"  # the last evaluated actor as <out>/actor, replaced whole
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(out / last["actor"], tmp)
    shutil.rmtree(out / "actor", ignore_errors=True)
    tmp.rename(out / "actor")
    return {**last, "actor_dir": str(out / "actor"), "log": str(out / "eval.jsonl")}


def _plain(config: PolicyStageConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: (dict(v) if k == "algo_kwargs" else v) for k, v in asdict(config).items()}
