"""A saved policy network: an MLP actor in safetensors + JSON, loaded with nothing unpickled.

``save_sac_actor(model, directory)`` writes an SB3 SAC model's deterministic actor
(``actor.safetensors`` + ``actor.json``), ``save_ppo_actor`` a PPO model's (its Gaussian's
mean, clipped to the bounds as SB3 clips it); ``MLPActor.load(directory)`` reads either
back and ``act(obs)`` maps batched observations (N, D) to actions (N, A) within the bounds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from worldmodels.io import atomic_write_bytes, atomic_write_json, integrity_problem


@dataclass(frozen=True)
class ActorConfig:
    obs_dim: int
    action_dim: int
    hidden: tuple[int, ...]
    """Widths of the ReLU layers."""
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    extra: dict[str, Any] | None = None
    """What made it (task, training seed and step, ...)."""
    activation: str = "relu"
    """``relu`` (SB3 SAC's) or ``tanh`` (SB3 PPO's)."""
    output: str = "tanh"
    """``tanh``: squashed into the bounds (SAC); ``clip``: the raw mean clipped to them (PPO)."""

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        if self.output not in ("tanh", "clip"):
            raise ValueError(f"unknown output {self.output!r}; known: tanh, clip")


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLPActor(nn.Module):
    """obs (N, D) -> hidden layers -> tanh, scaled to [action_low, action_high] (or the
    mean clipped to them) (N, A)."""

    def __init__(self, config: ActorConfig) -> None:
        super().__init__()
        self.config = config
        widths = (config.obs_dim, *config.hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[config.activation]()]
        self.latent = nn.Sequential(*layers)
        self.mu = nn.Linear(widths[-1], config.action_dim)
        self.register_buffer("low", torch.tensor(config.action_low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(config.action_high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.config.output == "clip":
            return torch.maximum(torch.minimum(self.mu(self.latent(obs.float())), self.high), self.low)
        squashed = torch.tanh(self.mu(self.latent(obs.float())))  # (N, A) in [-1, 1]
        return self.low + (squashed + 1) * 0.5 * (self.high - self.low)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Batched observations (N, D) -> actions (N, A) float32."""
        return self(torch.as_tensor(np.asarray(obs), dtype=torch.float32)).numpy()

    @classmethod
    def load(cls, directory: str | Path) -> MLPActor:
        """Raises FileNotFoundError without ``actor.json``/``actor.safetensors``, ValueError
        when the weights differ from the SHA-256 in ``actor.json``."""
        directory = Path(directory)
        record = json.loads((directory / "actor.json").read_text())
        expected = record.pop("sha256", None)
        problem = integrity_problem(directory / "actor.safetensors", expected, "re-download or re-save the actor")
        if problem:
            raise ValueError(problem)
        config = ActorConfig(**{**record, "hidden": tuple(record["hidden"])})
        actor = cls(config)
        actor.load_state_dict(safetensors.torch.load_file(directory / "actor.safetensors"))
        return actor.eval()

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        data = safetensors.torch.save(tensors)
        atomic_write_bytes(directory / "actor.safetensors", data)
        atomic_write_json(directory / "actor.json", {**asdict(self.config), "sha256": hashlib.sha256(data).hexdigest()})
        return directory


def save_sac_actor(model: Any, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """An SB3 SAC model's deterministic actor as an :class:`MLPActor` directory."""
    actor = model.policy.actor
    return _copy_actor(model.action_space, actor.latent_pi, actor.mu, "relu", "tanh", extra).save(directory)


def save_ppo_actor(model: Any, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """An SB3 PPO model's deterministic actor (an ``MlpPolicy`` with separate policy and
    value networks, the default) as an :class:`MLPActor` directory."""
    policy = model.policy
    kinds = {type(m) for m in policy.mlp_extractor.policy_net if not isinstance(m, nn.Linear)}
    activation = {nn.Tanh: "tanh", nn.ReLU: "relu"}.get(next(iter(kinds)), None) if len(kinds) == 1 else None
    if activation is None or getattr(policy, "squash_output", False):
        raise ValueError(f"only PPO MlpPolicy actors with tanh or ReLU layers and no squashing export; got {kinds}")
    actor = _copy_actor(
        model.action_space, policy.mlp_extractor.policy_net, policy.action_net, activation, "clip", extra
    )
    return actor.save(directory)


def _copy_actor(
    space: Any, latent: nn.Module, mu: nn.Linear, activation: str, output: str, extra: dict[str, Any] | None
) -> MLPActor:
    linears = [m for m in latent if isinstance(m, nn.Linear)]
    config = ActorConfig(
        obs_dim=linears[0].in_features,
        action_dim=mu.out_features,
        hidden=tuple(m.out_features for m in linears),
        action_low=tuple(float(x) for x in space.low),
        action_high=tuple(float(x) for x in space.high),
        extra=extra,
        activation=activation,
        output=output,
    )
    actor = MLPActor(config)
    ours = [m for m in actor.latent if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for mine, theirs in zip([*ours, actor.mu], [*linears, mu]):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    return actor
