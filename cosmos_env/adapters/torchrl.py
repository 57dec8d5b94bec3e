"""torchrl over the batched imagined env: an ``EnvBase`` with batch size [N], TensorDict
in and out, specs converted from the MuJoCo reference's spaces (as torchrl's own
``ModelBasedEnvBase.set_specs_from_env`` copies them from a real env).

torchrl resets finished envs itself (``_reset`` masks), so the wrapped env must not
autoreset: build it with ``autoreset_mode=DISABLED``; :func:`make_torchrl_env` does.

    env = make_torchrl_env(task="hopper", num_envs=64, max_episode_steps=1000)
    rollout = env.rollout(100)          # TensorDict [64, 100]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces as gym_spaces
from gymnasium.vector import AutoresetMode
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, TensorSpec, Unbounded
from torchrl.envs import EnvBase

from cosmos_env.vector import WorldModelVectorEnv


class TorchRLEnv(EnvBase):
    def __init__(self, env: WorldModelVectorEnv) -> None:
        if env.autoreset_mode != AutoresetMode.DISABLED:
            raise ValueError("torchrl resets envs itself: build the env with autoreset_mode=DISABLED")
        super().__init__(device=env.device, batch_size=torch.Size([env.num_envs]))
        self.env, n = env, env.num_envs
        space = env.single_observation_space
        spaces = (
            dict(space.spaces)
            if env.obs_mode == "dict"
            else {"state": space}
            if env.obs_mode == "state"
            else {"pixels": space}
        )
        self.keys = {name: "observation" if name == "state" else "pixels" for name in spaces}
        self.observation_spec = Composite(
            {self.keys[name]: _box_spec(s, n, self.device) for name, s in spaces.items()}, shape=(n,)
        )
        # Reason's plausibility of the newest frame (1 at a start: a real frame)
        self.observation_spec["plausibility"] = Bounded(0.0, 1.0, shape=(n, 1), dtype=torch.float32, device=self.device)
        low, high = env.single_action_space.low, env.single_action_space.high
        self.action_spec = Bounded(
            torch.as_tensor(low).expand(n, -1),
            torch.as_tensor(high).expand(n, -1),
            shape=(n, len(low)),
            dtype=torch.float32,
            device=self.device,
        )
        self.reward_spec = Unbounded(shape=(n, 1), dtype=torch.float32, device=self.device)
        flag = lambda: Categorical(2, shape=(n, 1), dtype=torch.bool, device=self.device)  # noqa: E731
        self.done_spec = Composite(done=flag(), terminated=flag(), truncated=flag(), shape=(n,))
        self._next_seed: int | None = None

    def _observation(self, obs: Any) -> dict[str, torch.Tensor]:
        obs = obs if isinstance(obs, dict) else {next(iter(self.keys)): obs}
        return {self.keys[name]: torch.as_tensor(np.asarray(value), device=self.device) for name, value in obs.items()}

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        options = None
        if tensordict is not None and "_reset" in tensordict.keys():
            options = {"reset_mask": tensordict.get("_reset").reshape(-1).cpu().numpy()}
            if self.env.history is None:
                options = None  # the first reset resets every env
        obs, _ = self.env.reset(seed=self._next_seed, options=options)
        self._next_seed = None
        false = torch.zeros(self.batch_size + (1,), dtype=torch.bool, device=self.device)
        plausible = torch.ones(self.batch_size + (1,), device=self.device)
        return TensorDict(
            {
                **self._observation(obs),
                "plausibility": plausible,
                "done": false,
                "terminated": false.clone(),
                "truncated": false.clone(),
            },
            batch_size=self.batch_size,
            device=self.device,
        )

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        obs, reward, terminated, truncated, info = self.env.step(tensordict.get("action"))
        as_flag = lambda x: torch.as_tensor(x, device=self.device).reshape(-1, 1)  # noqa: E731
        out = {
            **self._observation(obs),
            "reward": as_flag(reward.astype(np.float32)),
            "terminated": as_flag(terminated),
            "truncated": as_flag(truncated),
            "done": as_flag(terminated | truncated),
            "plausibility": as_flag(info["plausibility"]),
        }
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def _set_seed(self, seed: int | None) -> None:
        """The seed of the next reset (env i starts as MuJoCo's ``reset(seed + i)``)."""
        self._next_seed = seed


def _box_spec(space: gym_spaces.Box, n: int, device: torch.device) -> TensorSpec:
    """The spec of ``n`` stacked samples of ``space``, as torchrl's gym wrapper converts a Box:
    unbounded when the bounds are infinite or span the whole dtype (the state's -inf..inf, the
    pixels' uint8 0..255), else bounded; the space's dtype."""
    if not isinstance(space, gym_spaces.Box):
        raise TypeError(f"observation spaces are Boxes, got {space}")
    dtype = torch.from_numpy(np.empty(0, space.dtype)).dtype
    shape = (n, *space.shape)
    low, high = torch.as_tensor(space.low, dtype=dtype), torch.as_tensor(space.high, dtype=dtype)
    limits = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    infinite = bool(low.isinf().all() and high.isinf().all())
    whole_range = bool((low == limits.min).all() and (high == limits.max).all())
    if infinite or whole_range:
        return Unbounded(shape, dtype=dtype, device=device)
    return Bounded(low.expand(shape), high.expand(shape), shape, dtype=dtype, device=device)


def make_torchrl_env(num_envs: int = 1, **kwargs: Any) -> TorchRLEnv:
    """A :class:`TorchRLEnv` over a new ``WorldModelVectorEnv(num_envs, **kwargs)``."""
    return TorchRLEnv(WorldModelVectorEnv(num_envs=num_envs, autoreset_mode=AutoresetMode.DISABLED, **kwargs))
