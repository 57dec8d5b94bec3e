"""Image metrics used by training, validation and the fidelity benchmark."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image over the last three dims (C, H, W)."""
    mse = (x.float() - y.float()).pow(2).flatten(-3).mean(-1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-10))


def gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared horizontal plus vertical pixel difference per image over the last three
    dims (C, H, W): how much edge an image holds. A blurred image has less than the
    original; the fidelity benchmark's sharpness is a ratio of two of them."""
    x = x.float()
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(-3).mean(-1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(-3).mean(-1)
    return dx + dy


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 7) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per pixel, Gaussian window (sigma 1.5).

    x, y: (..., C, H, W); returns (..., C, H', W') (valid convolution, no padding).
    """
    shape = x.shape
    x = x.float().reshape(-1, 1, *shape[-2:])
    y = y.float().reshape(-1, 1, *shape[-2:])
    g = _gaussian_window(window, 1.5, x.device)
    kernel = (g[:, None] * g[None, :])[None, None]

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.reshape(*shape[:-2], *s.shape[-2:])


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image over (C, H, W)."""
    return ssim_map(x, y, data_range).flatten(-3).mean(-1)


def paired_gain(model: torch.Tensor, baseline: torch.Tensor) -> tuple[float, float]:
    """How much ``model`` exceeds ``baseline`` on the same N cases, (N,) each: the mean of
    the per-case differences and the half-width of its ~95% interval (1.96 standard errors).

    Raises ValueError unless both are (N,) with N >= 2.
    """
    if model.shape != baseline.shape or model.ndim != 1 or len(model) < 2:
        raise ValueError(
            f"paired_gain needs two (N,) tensors with N >= 2, got {tuple(model.shape)} and {tuple(baseline.shape)}"
        )
    diff = model.double() - baseline.double()
    return diff.mean().item(), 1.96 * (diff.std() / len(diff) ** 0.5).item()


def mean_interval(x: torch.Tensor) -> float:
    """Half-width of a ~95% interval of the mean of ``x`` (N,): 1.96 standard errors (NaN for N < 2)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return 1.96 * (x.std() / len(x) ** 0.5).item() if len(x) > 1 else float("nan")
