"""Control maps for Transfer, computed from canonical frames: Canny edges, blurred RGB,
inverse depth and segmentation (:data:`CONTROLS`).

Shapes: rgb ``(N, 3, H, W)`` in [0, 1], depth ``(N, H, W)`` metres, segmentation
``(N, H, W)`` integer ids; every map comes back ``(N, C, H, W)`` float.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CONTROLS = ("edge", "blur", "depth", "seg")
"""The control modalities, in the order Transfer's branches take them."""


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), reflect-padded, kernel of 2*ceil(3 sigma)+1."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def canny(rgb: torch.Tensor, low: float = 0.03, high: float = 0.08, sigma: float = 0.8) -> torch.Tensor:
    """Canny edges (N, 1, H, W) in {0, 1} of rgb (N, 3, H, W) in [0, 1]: Gaussian blur,
    Sobel gradients of the luminance, non-maximum suppression along the gradient (four
    directions), then hysteresis: weak edges (> ``low``) kept where they connect to strong
    ones (> ``high``), thresholds in units of the gradient magnitude of a unit step."""
    gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])[:, None]
    gray = gaussian_blur(gray, sigma)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=rgb.dtype, device=rgb.device) / 4
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel.t().reshape(1, 1, 3, 3))
    magnitude = torch.hypot(gx, gy)
    angle = torch.remainder(torch.atan2(gy, gx), math.pi)  # [0, pi)
    sector = torch.round(angle / (math.pi / 4)).long() % 4  # 0: horizontal gradient, 1: 45, 2: vertical, 3: 135
    m = F.pad(magnitude, (1, 1, 1, 1))
    h, w = magnitude.shape[-2:]

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return m[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    neighbours = [(shifted(0, 1), shifted(0, -1)), (shifted(1, 1), shifted(-1, -1)), (shifted(1, 0), shifted(-1, 0))]
    neighbours.append((shifted(1, -1), shifted(-1, 1)))
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for s, (a, b) in enumerate(neighbours):
        keep |= (sector == s) & (magnitude >= a) & (magnitude >= b)
    thin = magnitude * keep
    strong, weak = thin > high, thin > low
    edges = strong
    for _ in range(h + w):  # grow strong edges through connected weak ones
        grown = (F.max_pool2d(edges.float(), 3, stride=1, padding=1) > 0) & weak
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges.to(rgb.dtype)


def control_maps(
    rgb: torch.Tensor, depth: torch.Tensor, segmentation: torch.Tensor, num_segments: int = 16, blur_sigma: float = 3.0
) -> dict[str, torch.Tensor]:
    """The four control maps of canonical frames: ``edge`` (N, 1, H, W) Canny, ``blur``
    (N, 3, H, W) RGB blurred with ``blur_sigma`` pixels, ``depth`` (N, 1, H, W) inverse depth
    (1 / metres, clipped to [0, 1]), ``seg`` (N, S, H, W) one-hot ids (ids >= S folded into
    the last)."""
    ids = segmentation.long().clamp(0, num_segments - 1)
    return {
        "edge": canny(rgb),
        "blur": gaussian_blur(rgb, blur_sigma),
        "depth": (1.0 / depth.float().clamp_min(1e-3)).clamp(0, 1)[:, None],
        "seg": F.one_hot(ids, num_segments).permute(0, 3, 1, 2).to(rgb.dtype),
    }
