"""Pieces the learned policies share (:mod:`policies.bc`, :mod:`policies.idm`): a pixel
encoder, an MLP head, and the observation / action normalisation they keep as buffers."""

from __future__ import annotations

import torch
from torch import nn


def pixel_encoder(in_channels: int, channels: tuple[int, ...], resolution: int) -> tuple[nn.Module, int]:
    """Stride-2 convolutions then a flatten: (N, in_channels, H, W) in [-1, 1] -> (N, F);
    returns the module and F."""
    layers: list[nn.Module] = []
    width = in_channels
    for c in channels:
        layers += [nn.Conv2d(width, c, 4, stride=2, padding=1), nn.SiLU()]
        width = c
    return nn.Sequential(*layers, nn.Flatten()), width * (resolution // 2 ** len(channels)) ** 2


def mlp_head(features: int, hidden: int, out: int) -> nn.Sequential:
    """Two SiLU layers of ``hidden`` units then a linear output."""
    return nn.Sequential(
        nn.Linear(features, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out)
    )


class Normalisers(nn.Module):
    """Observation mean / std and action bounds, as buffers saved with the model."""

    def __init__(self, obs_dim: int, action_low: tuple[float, ...], action_high: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("low", torch.tensor(action_low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(action_high, dtype=torch.float32))

    def obs(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs.float() - self.obs_mean) / self.obs_std

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions within bounds -> [-1, 1]."""
        return (actions - self.low) / (self.high - self.low) * 2 - 1

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> actions within bounds."""
        return self.low + (unit + 1) * 0.5 * (self.high - self.low)
