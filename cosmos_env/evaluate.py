"""Judge imagination against MuJoCo: paired rollouts, per-step errors, policy ranking.

:func:`paired_rollout` starts MuJoCo and the imagined env from the same ``reset(seed)``
for each seed and lets a policy act in each world on that world's own observations
(closed loop; all seeds in one batched imagined env), then replays MuJoCo's actions in
imagination (open loop). Every imagined rollout is judged by every reward and
termination source the env offers (Reason's ``critic``, the task's ``rules``), so one
rollout ranks policies under each :data:`JUDGES` combination side by side.
:func:`rank_policies` turns per-seed returns of several policies into rank agreement
(:func:`cosmos_env.ranking.rank_agreement`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from tqdm.auto import tqdm

from cosmos_env.proprio_rules import ProprioRules
from cosmos_env.ranking import rank_agreement
from cosmos_env.reference import MujocoReference, mujoco_warnings_once
from cosmos_env.tasks import TaskConfig
from cosmos_env.vector import JUDGES, WorldModelVectorEnv
from worldmodels.metrics import psnr, ssim

NEVER = "never"
"""The termination source of a task that cannot terminate."""


@dataclass
class Episodes:
    """S episodes in one world from S seeds, padded to T steps (zeros / NaN past the end)."""

    obs: np.ndarray
    """(S, T+1, D) float64; NaN after an episode's last step."""
    actions: np.ndarray
    """(S, T, A) float32."""
    rewards: dict[str, np.ndarray]
    """Source (``mujoco``, ``critic``, ``rules``) -> (S, T) rewards."""
    terminated: dict[str, np.ndarray]
    """Source -> (S, T) bool: the state after step t is terminal."""
    steps: np.ndarray
    """(S,) int: steps each episode ran (MuJoCo: to its end; imagination: as asked)."""
    frames: np.ndarray
    """(S, F, H, W, 3) uint8 at steps 0, stride, 2 * stride, ..."""
    frame_stride: int
    video: np.ndarray | None = None
    """(T+1, H, W, 3) uint8: the first seed's frames at every step, when asked for."""

    def alive(self, termination: str | None = None) -> np.ndarray:
        """(S, T) bool: step t is part of the episode (run, and no ``termination`` before it)."""
        t = np.arange(self.actions.shape[1])
        alive = t[None] < self.steps[:, None]
        if termination not in (None, NEVER):
            ended = np.cumsum(self.terminated[termination], 1) - self.terminated[termination]  # before t
            alive &= ended == 0
        return alive

    def returns(self, reward: str, termination: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed returns (S,) and lengths (S,) with rewards from ``reward`` and the episode
        ended by ``termination`` (None or ``never``: by the steps run alone)."""
        alive = self.alive(termination)
        return (self.rewards[reward] * alive).sum(1), alive.sum(1)


def judge_variants(env: WorldModelVectorEnv) -> list[tuple[str, str]]:
    """(reward source, termination source) pairs the env can judge by."""
    sources = [j for j in JUDGES if j == "critic" or env.rules is not None]
    return [(r, t) for r in sources for t in (sources if env.task.terminates else [NEVER])]


def variant_name(reward: str, termination: str) -> str:
    return f"{reward}/{termination}"


def reset_policy(policy: Any, seeds: Sequence[int]) -> None:
    """Give a policy that draws per-env randomness (``RandomPolicy``) one stream per seed; others pass."""
    if hasattr(policy, "reset"):
        policy.reset(list(seeds))


def mujoco_episodes(
    policy: Any, task: TaskConfig, seeds: Sequence[int], horizon: int, frame_stride: int = 10, video: bool = True
) -> Episodes:
    """The policy in MuJoCo from each ``reset(seed)``, until the episode ends or ``horizon``."""
    ref = MujocoReference(task)
    s, a_dim = len(seeds), ref.action_space.shape[0]
    obs = np.full((s, horizon + 1, ref.observation_space.shape[0]), np.nan)
    actions = np.zeros((s, horizon, a_dim), np.float32)
    rewards, terminated = np.zeros((s, horizon)), np.zeros((s, horizon), bool)
    steps = np.zeros(s, np.int64)
    frames = np.zeros((s, horizon // frame_stride + 1, task.height, task.width, 3), np.uint8)
    clip = []
    try:
        for i, seed in enumerate(seeds):
            reset_policy(policy, [seed])  # seed i's stream, as row i of a batch reset with all seeds
            obs[i, 0] = ref.reset(seed=int(seed))[0]
            frames[i, 0] = ref.render().rgb
            if video and i == 0:
                clip.append(frames[i, 0])
            for t in range(horizon):
                actions[i, t] = policy.act(obs[i, t][None])[0]
                obs[i, t + 1], rewards[i, t], terminated[i, t], truncated, _ = ref.step(actions[i, t])
                steps[i] = t + 1
                if (t + 1) % frame_stride == 0 or (video and i == 0):
                    frame = ref.render().rgb
                    if (t + 1) % frame_stride == 0:
                        frames[i, (t + 1) // frame_stride] = frame
                    if video and i == 0:
                        clip.append(frame)
                if terminated[i, t] or truncated:
                    break
    finally:
        ref.close()
    return Episodes(
        obs,
        actions,
        {"mujoco": rewards},
        {"mujoco": terminated},
        steps,
        frames,
        frame_stride,
        np.stack(clip) if video else None,
    )


def mujoco_returns(policy: Any, task: TaskConfig, seeds: Sequence[int], horizon: int | None = None) -> np.ndarray:
    """(S,) MuJoCo returns of ``policy`` acting on batched states from each ``reset(seed)``
    (one vector env, no frames rendered), each episode until it ends or ``horizon`` steps
    (None: the task's time limit)."""
    import gymnasium as gym

    with mujoco_warnings_once():
        envs = gym.make_vec(task.gym_id, num_envs=len(seeds), vectorization_mode="sync")
    try:
        obs, _ = envs.reset(seed=[int(s) for s in seeds])
        reset_policy(policy, seeds)
        limit = horizon or task.max_episode_steps
        returns, running = np.zeros(len(seeds)), np.ones(len(seeds), bool)
        for _ in range(limit):
            obs, reward, terminated, truncated, _ = envs.step(policy.act(obs))
            returns += reward * running
            running &= ~(terminated | truncated)
            if not running.any():
                break
    finally:
        envs.close()
    return returns


def mujoco_pixel_returns(
    policy: Any,
    task: TaskConfig,
    seeds: Sequence[int],
    styles: Sequence[np.ndarray | str | None],
    horizon: int | None = None,
) -> np.ndarray:
    """(S,) MuJoCo returns of a pixel policy: from each ``reset(seeds[i])`` it acts on the
    frame (1, H, W, 3) uint8 the reference renders in ``styles[i]`` (a vector or preset
    name; None: canonical) after every step, until the episode ends or ``horizon`` steps
    (None: the task's time limit). Raises ValueError unless there is one style per seed."""
    if len(styles) != len(seeds):
        raise ValueError(f"{len(styles)} styles for {len(seeds)} seeds: give one style per seed")
    limit = horizon or task.max_episode_steps
    returns = np.zeros(len(seeds))
    with MujocoReference(task) as ref:
        for i, (seed, style) in enumerate(zip(seeds, styles)):
            ref.set_style("canonical" if style is None else style)
            reset_policy(policy, [seed])
            ref.reset(seed=int(seed))
            for _ in range(limit):
                _, reward, terminated, truncated, _ = ref.step(policy.act(ref.render().rgb[None])[0])
                returns[i] += reward
                if terminated or truncated:
                    break
    return returns


def imagined_episodes(
    env: WorldModelVectorEnv,
    seeds: Sequence[int],
    horizon: int,
    policy: Any = None,
    actions: np.ndarray | None = None,
    steps: np.ndarray | None = None,
    frame_stride: int = 10,
    video: bool = True,
    progress: bool = False,
) -> Episodes:
    """Closed loop (``policy`` acts on imagined observations) or open loop (``actions``
    (S, >= horizon, A) replayed for ``steps`` (S,) each), all seeds in ``env`` at once.

    A closed-loop rollout stops early once every episode has ended under every
    termination source. Raises ValueError unless exactly one of policy/actions is given
    or when the env's batch is not one env per seed.
    """
    if (policy is None) == (actions is None):
        raise ValueError("pass policy= (closed loop) or actions= (open loop), not both")
    if env.num_envs != len(seeds):
        raise ValueError(f"the env has {env.num_envs} envs for {len(seeds)} seeds")
    if env.autoreset_mode != AutoresetMode.DISABLED:
        raise ValueError("paired rollouts need an env with autoreset_mode=DISABLED")
    s = len(seeds)
    run = np.full(s, horizon) if steps is None else np.minimum(np.asarray(steps), horizon)
    obs_t, _ = env.reset(seed=[int(x) for x in seeds])
    sources = sorted({r for r, _ in judge_variants(env)})
    obs = np.full((s, horizon + 1, obs_t.shape[1]), np.nan)
    obs[:, 0] = obs_t
    taken = np.zeros((s, horizon, env.single_action_space.shape[0]), np.float32)
    rewards = {j: np.zeros((s, horizon)) for j in sources}
    terminated = {j: np.zeros((s, horizon), bool) for j in sources}
    frames = np.zeros((s, horizon // frame_stride + 1, env.task.height, env.task.width, 3), np.uint8)
    frames[:, 0] = env.frames()
    clip = [frames[0, 0]] if video else []
    if policy is not None:
        reset_policy(policy, seeds)
    for t in tqdm(range(int(run.max())), desc="imagining", unit="step", leave=False, disable=not progress):
        taken[:, t] = policy.act(obs_t) if policy is not None else actions[:, t]
        obs_t, _, _, _, info = env.step(taken[:, t])
        obs[:, t + 1] = obs_t
        for j in sources:
            rewards[j][:, t], terminated[j][:, t] = info[f"{j}_reward"], info[f"{j}_terminated"]
        if (t + 1) % frame_stride == 0:
            frames[:, (t + 1) // frame_stride] = env.frames()
        if video:
            clip.append(env.frames([0])[0])
        if policy is not None and env.task.terminates and all(terminated[j][:, : t + 1].any(1).all() for j in sources):
            run[:] = t + 1
            break
    past = np.arange(horizon + 1)[None] > run[:, None]
    obs[past] = np.nan
    return Episodes(obs, taken, rewards, terminated, run, frames, frame_stride, np.stack(clip) if video else None)


def why_ended(
    obs: np.ndarray, length: int, horizon: int, rules: ProprioRules | None, otherwise: str = "terminated"
) -> str:
    """Why an episode of ``length`` steps ended, from its observations ``obs`` (T + 1, D): it
    ran all ``horizon`` steps, or the healthy ranges its last one left
    (:meth:`ProprioRules.why_terminated`), or ``otherwise`` where ``rules`` (None: not
    asked) names none, e.g. "critic" for an episode the critic ended."""
    if length >= horizon:
        return f"ran all {horizon} steps"
    return (rules.why_terminated(obs[length]) if rules is not None else "") or otherwise


def step_errors(real: Episodes, imagined: Episodes, obs_std: np.ndarray) -> dict[str, Any]:
    """Per-step errors of imagination against MuJoCo, each a curve over steps 1..T (the mean
    over the seeds both worlds are still running; NaN where none is):
    ``obs_error`` RMS over dimensions in units of the dataset's std, ``reward_error``
    (per source) absolute, ``psnr``/``ssim`` at every ``frame_stride``-th step; and
    ``termination_agreement`` (per source): the share of those steps where both worlds
    agree on whether the state is terminal."""
    n = min(real.actions.shape[1], imagined.actions.shape[1])  # T: the shorter of the two
    both = real.alive()[:, :n] & imagined.alive()[:, :n]  # (S, T)

    def curve(values: np.ndarray, mask: np.ndarray) -> list[float]:
        with np.errstate(invalid="ignore"):
            return list(np.where(mask.any(0), (values * mask).sum(0) / mask.sum(0), np.nan))

    z = (imagined.obs[:, 1 : n + 1] - real.obs[:, 1 : n + 1]) / obs_std  # (S, T, D)
    obs_error = np.sqrt(np.nan_to_num(z**2).mean(-1))
    out: dict[str, Any] = {"obs_error": curve(obs_error, both), "reward_error": {}, "termination_agreement": {}}
    for j, reward in imagined.rewards.items():
        out["reward_error"][j] = curve(np.abs(reward[:, :n] - real.rewards["mujoco"][:, :n]), both)
        agree = imagined.terminated[j][:, :n] == real.terminated["mujoco"][:, :n]
        out["termination_agreement"][j] = float(agree[both].mean()) if both.any() else float("nan")
    f = min(real.frames.shape[1], imagined.frames.shape[1])
    at = np.arange(1, f) * real.frame_stride  # the step of each frame after the (shared) first
    frame_alive = (at[None] <= real.steps[:, None]) & (at[None] <= imagined.steps[:, None])
    x = torch.from_numpy(imagined.frames[:, 1:f]).permute(0, 1, 4, 2, 3).float() / 255
    y = torch.from_numpy(real.frames[:, 1:f]).permute(0, 1, 4, 2, 3).float() / 255
    out["frame_steps"] = at.tolist()
    out["psnr"] = curve(psnr(x, y).numpy(), frame_alive)
    out["ssim"] = curve(ssim(x, y).numpy(), frame_alive)
    return out


@dataclass
class PairedRollout:
    """One policy from the same seeds in MuJoCo and in imagination."""

    seeds: list[int]
    mujoco: Episodes
    closed_loop: Episodes
    open_loop: Episodes | None
    variants: list[tuple[str, str]]
    obs_std: np.ndarray
    seconds: dict[str, float]
    """Wall-clock of each rollout: ``mujoco``, ``closed_loop``, ``open_loop``."""
    rules: ProprioRules | None = None
    """The task's rules: they name the healthy range whose leaving ended an episode."""

    def summary(self) -> dict[str, Any]:
        """Everything measured, as plain JSON-able values (NaN as None)."""
        mujoco_return, mujoco_length = self.mujoco.returns("mujoco")
        imagined = {}
        for reward, termination in self.variants:
            returns, lengths = self.closed_loop.returns(reward, termination)
            rules, otherwise = (self.rules, "terminated") if termination == "rules" else (None, "critic")
            ended = _ended(self.closed_loop, lengths, rules, otherwise)
            imagined[variant_name(reward, termination)] = {"returns": returns, "lengths": lengths, "ended": ended}
        out = {
            "seeds": self.seeds,
            "mujoco": {
                "returns": mujoco_return,
                "lengths": mujoco_length,
                "ended": _ended(self.mujoco, mujoco_length, self.rules, "terminated"),
            },
            "imagined": imagined,
            "return_curves": {"mujoco": _return_curve(self.mujoco, "mujoco", None)}
            | {name: _return_curve(self.closed_loop, *v) for name, v in zip(imagined, self.variants)},
            "closed_loop": step_errors(self.mujoco, self.closed_loop, self.obs_std),
            "seconds": self.seconds,
        }
        if self.open_loop is not None:
            out["open_loop"] = step_errors(self.mujoco, self.open_loop, self.obs_std)
        return jsonable(out)


def _ended(episodes: Episodes, lengths: np.ndarray, rules: ProprioRules | None, otherwise: str) -> list[str]:
    """Per seed, :func:`why_ended` of its episode of ``lengths[i]`` steps."""
    horizon = episodes.actions.shape[1]
    return [why_ended(episodes.obs[i], int(n), horizon, rules, otherwise) for i, n in enumerate(lengths)]


def _return_curve(episodes: Episodes, reward: str, termination: str | None) -> np.ndarray:
    """(T,) the mean over seeds of the return so far after each step (an ended episode keeps its return)."""
    return np.cumsum(episodes.rewards[reward] * episodes.alive(termination), 1).mean(0)


def jsonable(x: Any) -> Any:
    """Arrays to lists, floats to 6 significant digits and NaN/inf to None, recursively."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
    if isinstance(x, (float, np.floating)):
        return float(f"{x:.6g}") if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def make_paired_env(
    weights: str | Path | None = None, task: str | TaskConfig | None = None, num_envs: int = 1, **kwargs: Any
) -> WorldModelVectorEnv:
    """A batched imagined env for paired rollouts (no autoreset, no time limit)."""
    return WorldModelVectorEnv(
        num_envs=num_envs, task=task, weights=weights, autoreset_mode=AutoresetMode.DISABLED, **kwargs
    )


def paired_rollout(
    policy: Any,
    env: WorldModelVectorEnv,
    seeds: Sequence[int],
    horizon: int = 1000,
    open_loop_horizon: int = 200,
    frame_stride: int = 10,
    video: bool = False,
    progress: bool = False,
) -> PairedRollout:
    """``policy`` (a :class:`policies.protocol.Policy`) from each of ``seeds`` in MuJoCo and
    in ``env`` (from :func:`make_paired_env` with one env per seed), closed loop for
    ``horizon`` steps, then MuJoCo's actions replayed in imagination for up to
    ``open_loop_horizon`` steps (0: no open loop). Frames are compared every
    ``frame_stride`` steps; ``video`` keeps the first seed's frames at every step."""
    if horizon < 1 or frame_stride < 1 or open_loop_horizon < 0:
        raise ValueError("horizon and frame_stride must be >= 1 and open_loop_horizon >= 0")
    seeds = [int(s) for s in seeds]
    clock = time.perf_counter()
    mujoco = mujoco_episodes(policy, env.task, seeds, horizon, frame_stride, video)
    seconds = {"mujoco": time.perf_counter() - clock}
    clock = time.perf_counter()
    closed = imagined_episodes(env, seeds, horizon, policy, None, None, frame_stride, video, progress)
    seconds["closed_loop"] = time.perf_counter() - clock
    opened = None
    if open_loop_horizon > 0:
        clock = time.perf_counter()
        h = min(open_loop_horizon, horizon)
        opened = imagined_episodes(env, seeds, h, None, mujoco.actions, mujoco.steps, frame_stride, False, progress)
        seconds["open_loop"] = time.perf_counter() - clock
    obs_std = env.model.predict.obs_std.double().cpu().numpy()
    return PairedRollout(seeds, mujoco, closed, opened, judge_variants(env), obs_std, seconds, env.rules)


def rank_policies(summaries: dict[str, dict], bootstrap: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Rank agreement of imagined vs MuJoCo returns over policies, per judge variant:
    ``summaries`` maps policy name -> :meth:`PairedRollout.summary` (the same seeds for all).
    Returns variant -> {mean returns per policy in each world, correlations with 95%
    intervals, regret}. Raises ValueError for fewer than 3 policies or mismatched seeds."""
    names = list(summaries)
    seeds = {tuple(s["seeds"]) for s in summaries.values()}
    if len(seeds) != 1:
        raise ValueError("rank_policies needs every policy run from the same seeds")
    real = np.array([summaries[n]["mujoco"]["returns"] for n in names], np.float64)
    out = {}
    for variant in summaries[names[0]]["imagined"]:
        imagined = np.array([summaries[n]["imagined"][variant]["returns"] for n in names], np.float64)
        out[variant] = {
            "policies": names,
            "mujoco_mean": real.mean(1).tolist(),
            "imagined_mean": imagined.mean(1).tolist(),
            **rank_agreement(imagined, real, bootstrap=bootstrap, seed=seed),
        }
    return jsonable(out)
