"""An inverse dynamics model: two consecutive frames (and observations) -> the action between.

Trained on MuJoCo episodes (``cosmos-env train stage=idm``), it labels clips that have no
actions (imagined "dreams", :mod:`policies.bc` then clones them). Saved as safetensors +
JSON like every model here.

Shapes: frames ``(N, 2, H, W, 3)`` uint8 and/or observations ``(N, 2, D)`` -> actions
``(N, A)``: ``forward`` in [-1, 1] units of the action bounds, :meth:`IDMModel.actions` within them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from policies.networks import Normalisers, mlp_head, pixel_encoder


@dataclass(frozen=True)
class IDMConfig:
    obs_dim: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    pixels: bool = True
    """Read the two frames (else the two observations only)."""
    with_state: bool = True
    """Read the two observations too (with ``pixels``)."""
    resolution: int = 64
    hidden: int = 256
    channels: tuple[int, ...] = (32, 64, 64, 64)


IDM_SIZES = {"tiny": dict(hidden=32, channels=(8, 8)), "small": dict(hidden=256, channels=(32, 64, 64, 64))}


class IDMModel(nn.Module):
    def __init__(self, config: IDMConfig) -> None:
        super().__init__()
        self.config = config
        features = 0
        if config.pixels:
            self.encoder, features = pixel_encoder(6, config.channels, config.resolution)
        if not config.pixels or config.with_state:
            features += 2 * config.obs_dim
        self.head = mlp_head(features, config.hidden, config.action_dim)
        self.norm = Normalisers(config.obs_dim, config.action_low, config.action_high)

    def forward(self, obs: torch.Tensor | None = None, frames: torch.Tensor | None = None) -> torch.Tensor:
        """obs (N, 2, D), frames (N, 2, H, W, 3) uint8 -> actions in [-1, 1] units, (N, A)."""
        parts = []
        if self.config.pixels:
            x = frames.float().div(255).permute(0, 1, 4, 2, 3).flatten(1, 2)  # (N, 6, H, W)
            parts.append(self.encoder(x * 2 - 1))
        if not self.config.pixels or self.config.with_state:
            parts.append(self.norm.obs(obs).flatten(1))
        return torch.tanh(self.head(torch.cat(parts, -1)))

    @torch.no_grad()
    def actions(self, obs: torch.Tensor | None = None, frames: torch.Tensor | None = None) -> torch.Tensor:
        """The actions within bounds, (N, A)."""
        return self.norm.from_unit(self(obs, frames))

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions within bounds -> [-1, 1]."""
        return self.norm.to_unit(actions)


@torch.no_grad()
def label_clip(model: IDMModel, obs: torch.Tensor | None, frames: torch.Tensor | None) -> torch.Tensor:
    """The actions between consecutive rows of clips: obs (B, T, D), frames (B, T, H, W, 3)
    -> (B, T-1, A) within bounds."""
    t = (obs if obs is not None else frames).shape[1]
    pairs = lambda x: None if x is None else torch.stack([x[:, :-1], x[:, 1:]], 2).flatten(0, 1)  # noqa: E731
    out = model.actions(pairs(obs), pairs(frames))
    return out.view(-1, t - 1, out.shape[-1])


def idm_loss(
    net: Any, model: IDMModel, obs: torch.Tensor, actions: torch.Tensor, rgb: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE in [-1, 1] units of the action between a window's two rows: obs (B, 2, D),
    actions (B, 1, A), rgb (B, 2, H, W, 3) uint8 or None."""
    target = model.to_unit(actions[:, 0].float()).clamp(-1, 1)
    err = (net(obs, rgb) - target).pow(2).mean()
    return err, {"action_mse": err.item()}


def register() -> None:
    """Make ``IDMModel`` loadable by :func:`worldmodels.checkpoint.from_pretrained`."""
    from worldmodels.checkpoint import register_model

    register_model("IDMModel", IDMModel, IDMConfig)


register()
