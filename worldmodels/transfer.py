"""Transfer: control maps -> RGB under a style, one network pass per frame.

As in Cosmos-Transfer1, each control modality (:data:`worldmodels.controls.CONTROLS`:
Canny edges, blurred RGB, inverse depth, segmentation) has its own light branch, and the
branches' features are mixed with per-modality weights: a scalar or a (N, H, W) map per
modality, normalised where the weights sum above 1 (a weight of 0 drops the modality).
The mixed features at three scales feed one shared decoder, modulated (FiLM) by a style
code: the :mod:`cosmos_env.styles` vector through a small MLP. With ``palette``, the style
code also gives a colour per segment id, painted through the segmentation map into a
full-resolution albedo beside the decoder's last features (a thin body's colour need not
squeeze through the shared channels). Trained with random modality subsets and weights, so
branches combine at inference in any mix.

Shapes: controls ``{name: (N, C_m, H, W)}``, style ``(N, 12)`` -> rgb ``(N, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldmodels.controls import CONTROLS


@dataclass(frozen=True)
class TransferConfig:
    resolution: int = 64
    num_segments: int = 16
    style_dim: int = 12
    channels: tuple[int, ...] = (8, 16, 32)
    """Feature width at full, half and quarter resolution."""
    blur_sigma: float = 3.0
    """Pixels of the Gaussian blur of the blurred-RGB control it was trained with."""
    palette: bool = True
    """A style-conditioned colour per segment, painted through the segmentation control
    (weighted as it is) and given to the last layer: what each part looks like in a style."""

    def __post_init__(self) -> None:
        if len(self.channels) != 3:
            raise ValueError(f"channels are the widths of three scales, got {self.channels}")


TRANSFER_SIZES = {
    "tiny": dict(channels=(4, 8, 8)),
    "small": dict(channels=(8, 16, 32)),
    "base": dict(channels=(16, 32, 64)),
}


def control_channels(config: TransferConfig) -> dict[str, int]:
    return {"edge": 1, "blur": 3, "depth": 1, "seg": config.num_segments}


Weights = dict[str, float | torch.Tensor]
"""Per modality a scalar or an (N, H, W) map of weights >= 0; a missing modality weighs 0."""


def mix_weights(weights: Weights, n: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Each modality's weights as (N, 1, H, W), normalised where they sum above 1.

    Raises ValueError for an unknown modality, a negative weight or a map of the wrong shape."""
    unknown = set(weights) - set(CONTROLS)
    if unknown:
        raise ValueError(f"unknown control modalities {sorted(unknown)}; known: {CONTROLS}")
    maps = {}
    for name in CONTROLS:
        w = torch.as_tensor(weights.get(name, 0.0), dtype=torch.float32, device=device)
        if w.ndim == 0:
            w = w.expand(n, size, size)
        if w.shape != (n, size, size):
            raise ValueError(f"control weight {name!r} must be a scalar or ({n}, {size}, {size}), got {tuple(w.shape)}")
        if (w < 0).any():
            raise ValueError(f"control weight {name!r} is negative")
        maps[name] = w[:, None]
    total = sum(maps.values())
    scale = torch.where(total > 1, 1 / total.clamp_min(1e-8), torch.ones_like(total))
    return {name: w * scale for name, w in maps.items()}


class Branch(nn.Module):
    """One modality's control map -> features at three scales."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.to_full = nn.Sequential(nn.Conv2d(in_channels, c0, 3, padding=1), nn.SiLU())
        self.to_half = nn.Sequential(nn.Conv2d(c0, c1, 4, stride=2, padding=1), nn.SiLU())
        self.to_quarter = nn.Sequential(nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        full = self.to_full(x)  # (N, c0, H, W)
        half = self.to_half(full)  # (N, c1, H/2, W/2)
        return [full, half, self.to_quarter(half)]  # + (N, c2, H/4, W/4)


class StyledBlock(nn.Module):
    """A residual conv block whose normalised features are scaled and shifted by the style."""

    def __init__(self, channels: int, style_width: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels), channels, affine=False)
        self.film = nn.Linear(style_width, 2 * channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(style)[..., None, None].chunk(2, dim=1)  # (N, c, 1, 1) each
        h = self.norm(x) * (1 + scale) + shift
        return x + self.conv2(F.silu(self.conv1(F.silu(h))))


class TransferModel(nn.Module):
    def __init__(self, config: TransferConfig) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2 = config.channels
        self.branches = nn.ModuleDict({m: Branch(k, config.channels) for m, k in control_channels(config).items()})
        width = 64
        self.style_mlp = nn.Sequential(
            nn.Linear(config.style_dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )
        self.blocks = nn.ModuleList([StyledBlock(c2, width), StyledBlock(c1, width), StyledBlock(c0, width)])
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(c1, c0, 4, stride=2, padding=1)
        self.palette = nn.Linear(width, 3 * config.num_segments) if config.palette else None
        self.rgb_head = nn.Conv2d(c0 + (3 if config.palette else 0), 3, 3, padding=1)
        # style vectors normalised by the train ranges' centre and spread (cosmos_env.styles)
        self.register_buffer("style_mean", torch.zeros(config.style_dim))
        self.register_buffer("style_std", torch.ones(config.style_dim))

    def forward(self, controls: dict[str, torch.Tensor], style: torch.Tensor, weights: Weights) -> torch.Tensor:
        """controls {modality: (N, C_m, H, W)} (modalities of weight 0 may be left out),
        style (N, style_dim), weights (see :func:`mix_weights`) -> rgb (N, 3, H, W) in [0, 1]."""
        n, size = style.shape[0], self.config.resolution
        mix = mix_weights(weights, n, size, style.device)
        scales: list[torch.Tensor | None] = [None, None, None]
        for name, w in mix.items():
            if name not in controls:
                if (w > 0).any():
                    raise ValueError(f"control {name!r} has weight > 0 but no map was given")
                continue
            for i, feature in enumerate(self.branches[name](controls[name])):
                wi = F.interpolate(w, size=feature.shape[-2:], mode="area") if i else w  # (N, 1, h, w)
                scales[i] = feature * wi if scales[i] is None else scales[i] + feature * wi
        if scales[0] is None:
            raise ValueError("no control map given")
        s = self.style_mlp((style - self.style_mean) / self.style_std)  # (N, 64)
        x = self.blocks[0](scales[2], s)  # (N, c2, H/4, W/4)
        x = self.blocks[1](self.up1(x) + scales[1], s)  # (N, c1, H/2, W/2)
        x = F.silu(self.blocks[2](self.up2(x) + scales[0], s))  # (N, c0, H, W)
        if self.palette is not None:
            colours = self.palette(s).view(n, self.config.num_segments, 3)  # (N, S, 3)
            seg = controls.get("seg")
            albedo = x.new_zeros(n, 3, size, size)
            if seg is not None:
                albedo = torch.einsum("nshw,nsc->nchw", seg, colours) * mix["seg"]  # (N, 3, H, W)
            x = torch.cat([x, albedo], 1)  # (N, c0 + 3, H, W)
        return torch.sigmoid(self.rgb_head(x))

    @torch.no_grad()
    def render(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        segmentation: torch.Tensor,
        style: torch.Tensor,
        weights: Weights,
    ) -> torch.Tensor:
        """Canonical frames (N, H, W, 3) uint8 with depth (N, H, W) metres and segmentation
        (N, H, W) -> the same frames in ``style`` (N, style_dim), (N, H, W, 3) uint8."""
        from worldmodels.controls import control_maps

        frames = rgb.permute(0, 3, 1, 2).float() / 255
        maps = control_maps(frames, depth, segmentation, self.config.num_segments, self.config.blur_sigma)
        out = self(maps, style.to(frames.device, torch.float32), weights)
        return (out.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8)
