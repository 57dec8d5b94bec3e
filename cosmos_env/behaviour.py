"""Behaviour policies that drive the MuJoCo reference while a dataset is collected.

``random`` (uniform actions), ``repeat`` (each random action held a few steps), ``smooth``
(temporally correlated noise, the default), ``sb3`` (a saved SB3 model), ``mix`` (per
episode one of uniform, smooth or a ladder actor with action noise, sometimes switching to
another mid-episode, as D4RL's replay datasets mix behaviours), or any callable
``obs -> action`` (picklable, for parallel collection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class BehaviourConfig:
    """Which behaviour policy collects the data."""

    name: str = "smooth"
    """``random`` | ``repeat`` | ``smooth`` | ``sb3`` | ``mix``."""
    repeat: int = 4
    """``repeat``: steps each random action is held."""
    smoothing: float = 0.8
    """``smooth``: AR(1) coefficient of the action noise (0 = white, ->1 = slow)."""
    noise_scale: float = 0.6
    """``smooth``: stationary std of the noise, in units of half the action range."""
    path: str | None = None
    """``sb3``: path of a saved stable-baselines3 model (a zip; SB3 unpickles parts of it,
    so load only your own files)."""
    algo: str = "PPO"
    """``sb3``: the SB3 algorithm class that saved it."""
    ladder: str | None = None
    """``mix``: a folder of actor directories (``policies.actor``); None: uniform and smooth only."""
    noise_levels: tuple[float, ...] = (0.0, 0.1, 0.3)
    """``mix``: std of the Gaussian noise added to an actor's actions (half-range units), one per episode."""
    switch_probability: float = 0.3
    """``mix``: chance that an episode switches to another behaviour at a random step."""


MIX_FIELDS = ("ladder", "noise_levels", "switch_probability")
"""Recorded only for ``mix``, so datasets collected before it existed still resume."""


class BehaviourPolicy(Protocol):
    def reset(self, rng: np.random.Generator) -> None: ...
    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


class _Bounded:
    def __init__(self, space: gym.spaces.Box) -> None:
        self.low = space.low.astype(np.float64)
        self.high = space.high.astype(np.float64)
        self.dtype = space.dtype
        self.rng = np.random.default_rng()

    def scale(self, unit: np.ndarray) -> np.ndarray:
        """[-1, 1] -> action bounds."""
        return (self.low + (np.clip(unit, -1, 1) + 1) * 0.5 * (self.high - self.low)).astype(self.dtype)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng


class UniformPolicy(_Bounded):
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.scale(self.rng.uniform(-1, 1, self.low.shape))


class RepeatPolicy(_Bounded):
    def __init__(self, space: gym.spaces.Box, repeat: int) -> None:
        super().__init__(space)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.repeat = repeat

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.t = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.t % self.repeat == 0:
            self.action = self.scale(self.rng.uniform(-1, 1, self.low.shape))
        self.t += 1
        return self.action


class SmoothNoisePolicy(_Bounded):
    def __init__(self, space: gym.spaces.Box, smoothing: float, noise_scale: float) -> None:
        super().__init__(space)
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing, self.noise_scale = smoothing, noise_scale

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.x = rng.normal(0, self.noise_scale, self.low.shape)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        rho = self.smoothing
        eps = self.rng.normal(0, self.noise_scale, self.low.shape)
        self.x = rho * self.x + np.sqrt(1 - rho**2) * eps
        return self.scale(self.x)


class CallablePolicy:
    """Wraps ``fn(obs) -> action``; calls ``fn.reset(rng)`` too if it has one."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.fn = fn

    def reset(self, rng: np.random.Generator) -> None:
        if hasattr(self.fn, "reset"):
            self.fn.reset(rng)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(obs))


class SB3Policy:
    """A saved stable-baselines3 model, sampling (not deterministic) actions."""

    def __init__(self, path: str, algo: str) -> None:
        import stable_baselines3

        if not hasattr(stable_baselines3, algo):
            raise ValueError(f"stable_baselines3 has no algorithm {algo!r}")
        self.model = getattr(stable_baselines3, algo).load(path, device="cpu")

    def reset(self, rng: np.random.Generator) -> None:
        self.model.set_random_seed(int(rng.integers(2**31)))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.model.predict(obs, deterministic=False)[0]


class MixPolicy(_Bounded):
    """Per episode: uniform, smooth or one of the ladder's actors (with one of the noise
    levels); with ``switch_probability``, another of them from a random step on."""

    def __init__(self, space: gym.spaces.Box, config: BehaviourConfig) -> None:
        super().__init__(space)
        self.config = config
        self.parts: list = [UniformPolicy(space), SmoothNoisePolicy(space, config.smoothing, config.noise_scale)]
        if config.ladder is not None:
            from pathlib import Path

            from policies.actor import MLPActor

            actors = sorted(Path(config.ladder).glob("*/actor.json"))
            if not actors:
                raise ValueError(f"behaviour 'mix': no actor directories in {config.ladder}")
            self.parts += [MLPActor.load(a.parent) for a in actors]
        if not 0 <= config.switch_probability <= 1:
            raise ValueError(f"switch_probability must be in [0, 1], got {config.switch_probability}")

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.t = 0
        self.current, self.later = (int(i) for i in rng.integers(len(self.parts), size=2))
        self.switch_at = int(rng.integers(10, 500)) if rng.random() < self.config.switch_probability else None
        self.noise = float(rng.choice(self.config.noise_levels))
        for part in self.parts[:2]:
            part.reset(rng)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.switch_at is not None and self.t == self.switch_at:
            self.current = self.later
        self.t += 1
        part = self.parts[self.current]
        if isinstance(part, _Bounded):
            return part(obs)
        unit = (np.asarray(part.act(obs[None]))[0] - self.low) / (self.high - self.low) * 2 - 1
        return self.scale(unit + self.rng.normal(0, self.noise, unit.shape))


def make_behaviour(
    config: BehaviourConfig | Callable[[np.ndarray], np.ndarray], action_space: gym.spaces.Box
) -> BehaviourPolicy:
    """Build a behaviour policy from its config, or wrap a callable."""
    if not isinstance(config, BehaviourConfig):
        return CallablePolicy(config)
    if config.name == "random":
        return UniformPolicy(action_space)
    if config.name == "repeat":
        return RepeatPolicy(action_space, config.repeat)
    if config.name == "smooth":
        return SmoothNoisePolicy(action_space, config.smoothing, config.noise_scale)
    if config.name == "mix":
        return MixPolicy(action_space, config)
    if config.name == "sb3":
        if not config.path:
            raise ValueError("behaviour 'sb3' needs path=<saved model .zip>")
        return SB3Policy(config.path, config.algo)
    raise ValueError(f"unknown behaviour policy {config.name!r}; known: random, repeat, smooth, sb3, mix")
