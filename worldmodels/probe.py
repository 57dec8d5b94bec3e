"""A pose probe: a small CNN that reads the proprio observation off a frame.

Trained on real (MuJoCo) frames, it is applied to imagined frames to ask whether they
show the body where MuJoCo has it: a metric that blur cannot win, since a blurred limb
gives no pose (:func:`benchmarks.fidelity` reports it beside its error on real frames,
the floor). Observations are predicted normalised by the dataset statistics in its
buffers.

Shapes: frames ``(B, 3, H, W)`` in [0, 1] -> observations ``(B, D)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PoseProbeConfig:
    obs_dim: int
    resolution: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 64)
    """Width of each stride-2 convolution stage."""
    hidden: int = 256


class PoseProbe(nn.Module):
    def __init__(self, config: PoseProbeConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = 3
        for c in config.channels:
            layers += [nn.Conv2d(width, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU()]
            width = c
        self.features = nn.Sequential(*layers)
        side = config.resolution // 2 ** len(config.channels)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * side * side, config.hidden),
            nn.SiLU(),
            nn.Linear(config.hidden, config.obs_dim),
        )
        self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
        self.register_buffer("obs_std", torch.ones(config.obs_dim))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> normalised observations (B, D)."""
        return self.head(self.features(frames * 2 - 1))

    @torch.no_grad()
    def read(self, rgb: torch.Tensor) -> torch.Tensor:
        """uint8 frames (..., H, W, 3) -> observations (..., D) in the task's units."""
        lead = rgb.shape[:-3]
        x = rgb.reshape(-1, *rgb.shape[-3:]).permute(0, 3, 1, 2).float() / 255  # (N, 3, H, W)
        out = torch.cat([self(x[i : i + 1024]) for i in range(0, len(x), 1024)])
        return (out * self.obs_std + self.obs_mean).reshape(*lead, -1)
