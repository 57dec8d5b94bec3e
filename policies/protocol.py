"""The policy protocol: anything with ``act(obs) -> action`` on batched observations.

:func:`as_policy` wraps what a user has: a plain callable, an SB3 model, a torchrl module
(a ``TensorDictModule`` reading ``"observation"`` and writing ``"action"``, or a plain
``nn.Module``), an :class:`~policies.actor.MLPActor` or :mod:`policies.bc` directory, or an SB3 ``.zip`` path
(pickled objects inside: only with ``trusted=True``). A policy that keeps state across
steps may also define ``reset(seeds)``, which evaluation calls with one seed per env
before each batch of episodes (:class:`RandomPolicy` does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Policy(Protocol):
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Batched observations (N, D) -> actions (N, A)."""
        ...


class RandomPolicy:
    """Smooth random actions (the ``smooth`` behaviour of :mod:`cosmos_env.behaviour`), one
    stream per env seeded by ``reset(seeds)``: the same seeds give the same actions
    whatever the observations, so MuJoCo and imagination see the same action sequence."""

    def __init__(self, action_space: Any, config: Any = None) -> None:
        from cosmos_env.behaviour import BehaviourConfig

        self.action_space, self.config = action_space, config or BehaviourConfig(name="smooth")
        self.streams: list = []

    def reset(self, seeds: Any) -> None:
        from cosmos_env.behaviour import make_behaviour

        self.streams = [make_behaviour(self.config, self.action_space) for _ in seeds]
        for stream, seed in zip(self.streams, seeds):
            stream.reset(np.random.default_rng(int(seed)))

    def act(self, obs: np.ndarray) -> np.ndarray:
        if len(self.streams) != len(obs):
            raise RuntimeError(f"call reset(seeds) with one seed per env ({len(obs)}) before act()")
        return np.stack([stream(o) for stream, o in zip(self.streams, obs)]).astype(np.float32)


class CallablePolicy:
    """A function obs (N, D) -> actions (N, A) as a :class:`Policy`."""

    def __init__(self, fn: Callable[[np.ndarray], Any]) -> None:
        self.fn = fn

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(obs), dtype=np.float32)


class SB3Policy:
    """An SB3 model's deterministic action."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(obs, deterministic=True)[0], dtype=np.float32)


class TorchPolicy:
    """A torch module: a ``TensorDictModule`` (``"observation"`` in, ``"action"`` out) or a plain
    ``nn.Module`` mapping an observation tensor to an action tensor."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        if hasattr(self.module, "in_keys"):  # tensordict
            from tensordict import TensorDict

            out = self.module(TensorDict({"observation": x}, batch_size=[x.shape[0]]))["action"]
        else:
            out = self.module(x)
        return out.cpu().numpy().astype(np.float32)


def as_policy(obj: Any, trusted: bool = False, algo: str = "SAC") -> Policy:
    """A :class:`Policy` for ``obj``; ``algo`` names the SB3 class of a ``.zip``.

    Raises ValueError for an SB3 ``.zip`` without ``trusted=True``, FileNotFoundError for a
    path that holds no policy, TypeError for what it cannot wrap."""
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if (path / "actor.json").is_file():
            from policies.actor import MLPActor

            return MLPActor.load(path)
        if (path / "config.json").is_file() and '"BCModel"' in (path / "config.json").read_text():
            from policies.bc import BCPolicy

            return BCPolicy.load(path)
        if path.suffix == ".zip":
            if not trusted:
                raise ValueError(
                    f"{path}: an SB3 .zip holds pickled objects; load it only if you trust it (trusted=True)"
                )
            import stable_baselines3

            if not hasattr(stable_baselines3, algo):
                raise ValueError(f"unknown SB3 algorithm {algo!r}")
            return SB3Policy(getattr(stable_baselines3, algo).load(path, device="cpu"))
        raise FileNotFoundError(
            f"{path}: not a policy (an actor directory with actor.json, a BC model, or an SB3 .zip)"
        )
    if isinstance(obj, Policy):
        return obj
    if hasattr(obj, "predict") and hasattr(obj, "policy"):
        return SB3Policy(obj)
    if isinstance(obj, torch.nn.Module):
        return TorchPolicy(obj)
    if callable(obj):
        return CallablePolicy(obj)
    raise TypeError(
        f"cannot make a policy of {type(obj).__name__}: give a callable, an SB3 model, a torch module or a path"
    )
