"""``WorldModelEnv``: one imagined env, a thin view of :class:`WorldModelVectorEnv` with
N = 1 and no autoreset (``gym.make`` adds ``TimeLimit``, as for the MuJoCo task)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from cosmos_env.vector import WorldModelVectorEnv, env_row


class WorldModelEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        """Keyword arguments as :class:`WorldModelVectorEnv` (``task``, ``weights``,
        ``obs_mode``, ``device``, ``sampler_steps``, ``best_of``, ...)."""
        self.core = WorldModelVectorEnv(
            num_envs=1, render_mode=render_mode, autoreset_mode=AutoresetMode.DISABLED, max_episode_steps=None, **kwargs
        )
        self.observation_space = self.core.single_observation_space
        self.action_space = self.core.single_action_space
        self.render_mode = render_mode
        self.task = self.core.task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """``reset(seed=s)`` starts exactly where the MuJoCo task's ``reset(seed=s)`` does."""
        if seed is not None:
            if np.asarray(seed).ndim != 0 or np.asarray(seed).dtype.kind not in "iu":
                raise ValueError(f"seed must be one integer for a single env, got {seed!r}")
            seed = int(seed)
        super().reset(seed=seed)
        options = dict(options or {})
        for key in ("rgb", "obs", "actions"):  # one frame / observation or one clip, batched for the core
            if key in options:
                options[key] = np.asarray(options[key])[None]
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        obs, info = self.core.reset(seed=seed, options=options)
        return env_row(obs, 0), {k: v[0] for k, v in info.items()}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if not isinstance(action, torch.Tensor):
            action = np.asarray(action)
        if tuple(action.shape) != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {tuple(action.shape)}")
        obs, reward, terminated, truncated, info = self.core.step(action[None])
        return (
            env_row(obs, 0),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {k: v[0] for k, v in info.items()},
        )

    def render(self) -> np.ndarray | None:
        frames = self.core.render()
        return None if frames is None else frames[0]

    def close(self) -> None:
        self.core.close()
