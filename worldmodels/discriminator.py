"""A patch discriminator: is each patch of a frame drawn by MuJoCo or by a decoder?

A decoder trained by L1 / SSIM alone draws the mean of what its latents leave open, a
soft picture; a discriminator's hinge loss (PatchGAN, Isola et al. 2017; as VQGAN and
latent-diffusion autoencoders train their decoders) pushes it to commit to one sharp one.
It is a training aid only: checkpoints keep it to resume, shipped models never hold it.

Shapes: frames ``(N, 3, H, W)`` in [0, 1] -> logits ``(N, 1, H / 4 - 2, W / 4 - 2)`` with
three stages, one per overlapping patch (34 pixels across).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DiscriminatorConfig:
    channels: tuple[int, ...] = (32, 64, 128)
    """Width of each stage: two stride-2 stages, then stride-1 ones."""


DISCRIMINATOR_SIZES = {
    "tiny": DiscriminatorConfig(channels=(8, 16, 16)),
    "small": DiscriminatorConfig(channels=(32, 64, 128)),
}


class PatchDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width_in = 3
        for i, width in enumerate(config.channels):
            layers += [nn.Conv2d(width_in, width, 4, stride=2 if i < 2 else 1, padding=1)]
            if i > 0:  # no norm on the first layer, as in PatchGAN
                layers += [nn.GroupNorm(min(8, width), width)]
            layers += [nn.LeakyReLU(0.2)]
            width_in = width
        layers += [nn.Conv2d(width_in, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> patch logits (N, 1, h, w): > 0 says real."""
        return self.net(frames * 2 - 1)
