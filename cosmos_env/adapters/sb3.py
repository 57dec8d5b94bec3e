"""stable-baselines3 over the batched imagined env: a direct ``VecEnv`` subclass.

SB3's ``VecEnv`` is not gymnasium's ``VectorEnv``: ``done = terminated or truncated``,
truncation goes in ``info["TimeLimit.truncated"]``, the last observation of a finished
episode in ``info["terminal_observation"]``, and the env resets inside the same step.
:class:`WorldModelVectorEnv` already resets finished envs in the same step and keeps
their true final observations, so this class only translates; all N envs step in one
batched call (never ``DummyVecEnv`` over N copies of a model).

    from cosmos_env.adapters.sb3 import SB3VecEnv
    env = SB3VecEnv(WorldModelVectorEnv(num_envs=64, task="hopper", max_episode_steps=1000))
    PPO("MlpPolicy", VecMonitor(env)).learn(10_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from cosmos_env.vector import WorldModelVectorEnv


class SB3VecEnv(VecEnv):
    def __init__(self, env: WorldModelVectorEnv) -> None:
        if env.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError("SB3 needs an env that resets in the same step (autoreset_mode SAME_STEP)")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self.render_mode = env.render_mode
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        obs, info = self.env.reset(seed=seed)
        self.reset_infos = [{k: v[i] for k, v in info.items()} for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        done = terminated | truncated
        final = info.get("final_obs")
        per_env = [k for k in info if not k.startswith("_") and k not in ("final_obs", "final_info")]
        infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            item = {k: info[k][i] for k in per_env}
            item["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if done[i]:
                item["terminal_observation"] = final[i]
            infos.append(item)
        return obs, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.env.close()

    def render(self, mode: str | None = None) -> np.ndarray | None:
        frames = self.env.render()
        return None if frames is None else frames[0]

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.env.render()
        return [None] * self.num_envs if frames is None else list(frames)

    # the envs are rows of one batched model: attributes and methods are the batch's
    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]
