"""Training losses, kept apart from the architectures they train."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from worldmodels.metrics import ssim
from worldmodels.predict import PredictModel
from worldmodels.tokenizer import depth_to_inverse


def image_gradient_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences: keeps thin edges sharp."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    return F.l1_loss(dx(x), dx(y)) + F.l1_loss(dy(x), dy(y))


def tokenizer_loss(
    net: Callable, num_segments: int, rgb: torch.Tensor, depth: torch.Tensor, segmentation: torch.Tensor,
    ssim_weight: float = 0.2, gradient_weight: float = 1.0, depth_weight: float = 1.0,
    segmentation_weight: float = 0.1,
) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """rgb (B, T, H, W, 3) uint8, depth (B, T, H, W) metres, segmentation (B, T, H, W) ids."""
    frames = rgb.permute(0, 1, 4, 2, 3).float() / 255                   # (B, T, 3, H, W)
    _, out = net(frames)
    l1 = F.l1_loss(out["rgb"], frames)
    grad = image_gradient_l1(out["rgb"], frames)
    structure = 1 - ssim(out["rgb"], frames).mean()
    depth_l1 = F.l1_loss(out["inverse_depth"], depth_to_inverse(depth.float()))
    seg_target = segmentation.long().clamp_max(num_segments - 1)  # (B, T, H, W)
    seg_ce = F.cross_entropy(out["segmentation"].flatten(0, 1), seg_target.flatten(0, 1))
    loss = (l1 + gradient_weight * grad + ssim_weight * structure
            + depth_weight * depth_l1 + segmentation_weight * seg_ce)  # fmt: skip
    with torch.no_grad():
        mse = (out["rgb"] - frames).pow(2).mean()
    metrics = {"l1": l1.item(), "gradient": grad.item(), "ssim": 1 - structure.item(),
               "depth_l1": depth_l1.item(), "segmentation_ce": seg_ce.item(),
               "psnr": (10 * torch.log10(1 / mse.clamp_min(1e-10))).item()}  # fmt: skip
    return loss, metrics


def predict_loss(
    net: Callable, model: PredictModel, latents: torch.Tensor, obs: torch.Tensor,
    actions: torch.Tensor, valid: torch.Tensor, context_noise: float = 0.1,
    pure_noise_fraction: float = 0.5, obs_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """Flow-matching loss for next-frame prediction, noised as sampling will see it.

    latents (B, L, C, h, w) and obs (B, L, D) raw; actions (B, L-1, A); valid (B, L).
    Each window is cut at a random frame c in [1, L-1]: frames before c are context,
    lightly noised (tau ~ U(0, ``context_noise``): the augmentation that keeps rollouts
    from drifting); frames from c on are targets with tau = 1 (pure noise, what one-step
    sampling starts from) with probability ``pure_noise_fraction``, else tau ~ U(0, 1).
    Frame c is predicted exactly as at sampling time; later frames, which see noisy
    predecessors through causal attention, are extra (diffusion-forcing) targets. The
    loss is the x0 error of target frames whose previous frame is valid.
    """
    z0, o0 = model.normalize_latents(latents.float()), model.normalize_obs(obs.float())
    b, length = z0.shape[:2]
    device = z0.device
    cut = torch.randint(1, length, (b, 1), device=device)
    is_target = torch.arange(length, device=device)[None] >= cut                          # (B, L)
    target_tau = torch.where(torch.rand(b, length, device=device) < pure_noise_fraction,
                             torch.ones(b, length, device=device), torch.rand(b, length, device=device))  # fmt: skip
    tau = torch.where(is_target, target_tau, torch.rand(b, length, device=device) * context_noise)
    zt = (1 - tau[..., None, None, None]) * z0 + tau[..., None, None, None] * torch.randn_like(z0)
    ot = (1 - tau[..., None]) * o0 + tau[..., None] * torch.randn_like(o0)
    z_hat, o_hat = net(zt, ot, actions.float(), tau)
    weight = torch.zeros(b, length, device=device)
    weight[:, 1:] = (valid[:, 1:] & valid[:, :-1]).float()
    weight = weight * is_target
    latent_err = (z_hat.float() - z0).pow(2).flatten(2).mean(-1)         # (B, L)
    obs_err = (o_hat.float() - o0).pow(2).mean(-1)                        # (B, L)
    norm = weight.sum().clamp_min(1)
    latent_loss, obs_loss = (latent_err * weight).sum() / norm, (obs_err * weight).sum() / norm
    first = weight * (torch.arange(length, device=device)[None] == cut) * (tau == 1)  # the sampling situation
    metrics = {"latent_mse": latent_loss.item(), "obs_mse": obs_loss.item(),
               "latent_mse_next_from_noise": ((latent_err * first).sum() / first.sum().clamp_min(1)).item(),
               "obs_mse_next_from_noise": ((obs_err * first).sum() / first.sum().clamp_min(1)).item()}  # fmt: skip
    return latent_loss + obs_weight * obs_loss, metrics
