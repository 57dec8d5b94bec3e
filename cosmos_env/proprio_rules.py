"""Reward and termination written out from the proprio observation: the baseline Reason
is measured against (``benchmarks/reason.py``).

For Hopper, HalfCheetah and Walker2d, with the coefficients read from the gymnasium env:
reward ``forward_weight * x_velocity (+ healthy_reward) - ctrl_weight * |a|^2``, with
x_velocity the mean of ``obs[nq - 1]`` (``qvel[0]``) before and after the step (an
approximation: MuJoCo uses the x displacement); termination (never for HalfCheetah) when
``z`` (``obs[0]``), the torso angle (``obs[1]``) or, for Hopper, ``obs[1:]`` leave their
healthy ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_env.tasks import TaskConfig, load_task

SUPPORTED = ("hopper", "halfcheetah", "walker2d")


@dataclass(frozen=True)
class ProprioRules:
    velocity_index: int
    forward_weight: float
    ctrl_weight: float
    healthy_reward: float = 0.0
    z_range: tuple[float, float] | None = None
    angle_range: tuple[float, float] | None = None
    state_range: tuple[float, float] | None = None
    """Bounds on obs[1:] (qpos[2:] and qvel), as Hopper checks them."""

    @classmethod
    def for_task(cls, task: str | TaskConfig) -> ProprioRules:
        """The rules of a task in :data:`SUPPORTED`; raises ValueError for any other."""
        from cosmos_env.reference import make_mujoco

        task = load_task(task) if isinstance(task, str) else task
        if task.name not in SUPPORTED:
            raise ValueError(f"no proprio rules for task {task.name!r}; written for {', '.join(SUPPORTED)}")
        env = make_mujoco(task.gym_id).unwrapped
        try:
            get = lambda name: getattr(env, name, None)  # noqa: E731
            return cls(
                velocity_index=env.model.nq - 1,
                forward_weight=float(get("_forward_reward_weight")),
                ctrl_weight=float(get("_ctrl_cost_weight")),
                healthy_reward=float(get("_healthy_reward") or 0.0),
                z_range=get("_healthy_z_range"),
                angle_range=get("_healthy_angle_range"),
                state_range=get("_healthy_state_range"),
            )
        finally:
            env.close()

    def _healthy_ranges(self) -> list[tuple[str, slice, tuple[float, float]]]:
        """(name, which entries of the observation, bounds) of each healthy-range check; none
        for a task that never terminates (no z range)."""
        if self.z_range is None:
            return []
        checks = [("z", slice(0, 1), self.z_range)]
        if self.angle_range is not None:
            checks.append(("angle", slice(1, 2), self.angle_range))
        if self.state_range is not None:
            checks.append(("state", slice(1, None), self.state_range))
        return checks

    def terminated(self, next_obs: np.ndarray) -> np.ndarray:
        """next_obs (..., D) -> (...) bool: the state is outside the healthy range."""
        outside = np.zeros(next_obs.shape[:-1], dtype=bool)
        for _, entries, (low, high) in self._healthy_ranges():
            values = next_obs[..., entries]
            outside |= ~((values > low) & (values < high)).all(-1)  # NaN is outside
        return outside

    def why_terminated(self, next_obs: np.ndarray) -> str:
        """One observation (D,) -> the healthy ranges it left, e.g. ``"z 0.664 not in (0.7,
        inf)"`` (``obs[i]`` for the state check), joined by "; "; "" when it is healthy."""
        reasons = []
        for name, entries, (low, high) in self._healthy_ranges():
            for offset, value in enumerate(np.asarray(next_obs)[entries]):
                if not low < value < high:
                    label = name if name != "state" else f"obs[{entries.start + offset}]"
                    reasons.append(f"{label} {value:.3g} not in ({low:g}, {high:g})")
        return "; ".join(reasons)

    def reward(self, obs: np.ndarray, next_obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        """obs, next_obs (..., D), action (..., A) -> (...) reward."""
        velocity = (obs[..., self.velocity_index] + next_obs[..., self.velocity_index]) / 2
        reward = self.forward_weight * velocity - self.ctrl_weight * np.square(action).sum(-1)
        if self.z_range is not None:
            reward = reward + self.healthy_reward * ~self.terminated(next_obs)
        return reward
