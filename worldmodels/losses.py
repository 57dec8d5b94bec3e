"""Training losses, kept apart from the architectures they train."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worldmodels.metrics import ssim
from worldmodels.tokenizer import Tokenizer, depth_to_inverse


def image_gradient_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences: keeps thin edges sharp."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    return F.l1_loss(dx(x), dx(y)) + F.l1_loss(dy(x), dy(y))


def tokenizer_loss(
    model: Tokenizer, rgb: torch.Tensor, depth: torch.Tensor, segmentation: torch.Tensor,
    ssim_weight: float = 0.2, gradient_weight: float = 1.0, depth_weight: float = 1.0,
    segmentation_weight: float = 0.1,
) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """rgb (B, T, H, W, 3) uint8, depth (B, T, H, W) metres, segmentation (B, T, H, W) ids."""
    frames = rgb.permute(0, 1, 4, 2, 3).float() / 255                   # (B, T, 3, H, W)
    _, out = model(frames)
    l1 = F.l1_loss(out["rgb"], frames)
    grad = image_gradient_l1(out["rgb"], frames)
    structure = 1 - ssim(out["rgb"], frames).mean()
    depth_l1 = F.l1_loss(out["inverse_depth"], depth_to_inverse(depth.float()))
    seg_target = segmentation.long().clamp_max(model.config.num_segments - 1)  # (B, T, H, W)
    seg_ce = F.cross_entropy(out["segmentation"].flatten(0, 1), seg_target.flatten(0, 1))
    loss = (l1 + gradient_weight * grad + ssim_weight * structure
            + depth_weight * depth_l1 + segmentation_weight * seg_ce)  # fmt: skip
    with torch.no_grad():
        mse = (out["rgb"] - frames).pow(2).mean()
    metrics = {"l1": l1.item(), "gradient": grad.item(), "ssim": 1 - structure.item(),
               "depth_l1": depth_l1.item(), "segmentation_ce": seg_ce.item(),
               "psnr": (10 * torch.log10(1 / mse.clamp_min(1e-10))).item()}  # fmt: skip
    return loss, metrics
