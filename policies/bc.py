"""Behaviour cloning: a policy regressed on an episode dataset's actions.

From state observations (an MLP) or from pixels (a CNN over the last ``frames`` frames,
optionally with the state beside them). Trained by ``cosmos-env train stage=bc``
(:class:`policies.stages.BCStage`); saved like every model here (safetensors + JSON,
nothing unpickled) and loaded as a policy by :func:`policies.protocol.as_policy`.

Pixel policies keep a frame stack per env: :meth:`BCPolicy.reset` starts it over, and the
first frame of an episode fills the whole stack (as training pads an episode's start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.networks import Normalisers, mlp_head, pixel_encoder


@dataclass(frozen=True)
class BCConfig:
    obs_dim: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    pixels: bool = False
    """False: acts on the state observation; True: on the last ``frames`` frames."""
    frames: int = 3
    resolution: int = 64
    with_state: bool = False
    """Pixels and the state observation together."""
    hidden: int = 256
    channels: tuple[int, ...] = (32, 64, 64, 64)
    """Widths of the stride-2 convolutions of the pixel encoder."""


BC_SIZES = {"tiny": dict(hidden=32, channels=(8, 8)), "small": dict(hidden=256, channels=(32, 64, 64, 64))}


class BCModel(nn.Module):
    """(state (N, D) and/or frames (N, k, H, W, 3) uint8) -> actions (N, A): ``forward`` in
    [-1, 1] units of the bounds (what the loss compares), :meth:`actions` within them."""

    def __init__(self, config: BCConfig) -> None:
        super().__init__()
        self.config = config
        features = 0
        if config.pixels:
            self.encoder, features = pixel_encoder(3 * config.frames, config.channels, config.resolution)
        if not config.pixels or config.with_state:
            features += config.obs_dim
        self.head = mlp_head(features, config.hidden, config.action_dim)
        self.norm = Normalisers(config.obs_dim, config.action_low, config.action_high)

    def forward(self, obs: torch.Tensor | None = None, frames: torch.Tensor | None = None) -> torch.Tensor:
        parts = []
        if self.config.pixels:
            x = frames.float().div(255).permute(0, 1, 4, 2, 3).flatten(1, 2)  # (N, k*3, H, W)
            parts.append(self.encoder(x * 2 - 1))
        if not self.config.pixels or self.config.with_state:
            parts.append(self.norm.obs(obs))
        return torch.tanh(self.head(torch.cat(parts, -1)))

    def actions(self, obs: torch.Tensor | None = None, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm.from_unit(self(obs, frames))

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions within bounds -> [-1, 1]."""
        return self.norm.to_unit(actions)


class BCPolicy:
    """A :class:`BCModel` as a :class:`~policies.protocol.Policy`: ``act`` takes batched
    states (N, D), frames (N, H, W, 3) uint8, or dicts ``{"state", "pixels"}`` (an env's
    ``obs_mode="dict"``), as the model needs."""

    def __init__(self, model: BCModel) -> None:
        self.model = model.eval()
        self.stack: torch.Tensor | None = None  # (N, k, H, W, 3) uint8

    @classmethod
    def load(cls, directory: str | Path) -> BCPolicy:
        from worldmodels.checkpoint import from_pretrained

        return cls(from_pretrained(directory, expected_class="BCModel"))

    def reset(self, seeds: Any = None) -> None:
        """Start every env's frame stack over (at the next ``act``)."""
        self.stack = None

    @torch.no_grad()
    def act(self, obs: Any) -> np.ndarray:
        cfg = self.model.config
        state = frames = None
        if isinstance(obs, dict):
            state, frames = obs.get("state"), obs.get("pixels")
        elif cfg.pixels and np.asarray(obs).ndim == 4:
            frames = obs
        else:
            state = obs
        if cfg.pixels:
            if frames is None:
                raise ValueError("this BC policy acts on pixels: give frames (N, H, W, 3) or {'pixels': ...}")
            new = torch.as_tensor(np.asarray(frames))[:, None]  # (N, 1, H, W, 3)
            if self.stack is None or self.stack.shape[0] != new.shape[0]:
                self.stack = new.expand(-1, cfg.frames, -1, -1, -1).clone()
            else:
                self.stack = torch.cat([self.stack[:, 1:], new], 1)
        if (not cfg.pixels or cfg.with_state) and state is None:
            raise ValueError("this BC policy needs the state observation")
        state_t = None if state is None else torch.as_tensor(np.asarray(state), dtype=torch.float32)
        return self.model.actions(state_t, self.stack if cfg.pixels else None).numpy().astype(np.float32)


def bc_loss(
    net: Any,
    model: BCModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    rgb: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE in [-1, 1] action units of the action at each window's last row: obs (B, L, D),
    actions (B, L-1, A) (the last row's action leads out of the window; row L-2's is the
    target), rgb (B, L, H, W, 3) uint8 for pixel policies (rows 0..L-2 are the stack)."""
    k = actions.shape[1]
    target = model.to_unit(actions[:, -1].float()).clamp(-1, 1)
    frames = rgb[:, :k] if rgb is not None else None
    err = (net(obs[:, k - 1], frames) - target).pow(2).mean()
    return err, {"action_mse": err.item()}


def register() -> None:
    """Make ``BCModel`` loadable by :func:`worldmodels.checkpoint.from_pretrained`."""
    from worldmodels.checkpoint import register_model

    register_model("BCModel", BCModel, BCConfig)


register()
