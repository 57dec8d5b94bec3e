"""Physically wrong clips, made from real ones, for training Reason's plausibility head.

Each function takes a batch of clips (``latents`` (B, T, C, h, w), ``obs`` (B, T, D)) and
returns corrupted copies of the same shapes; actions are left as they were, so the clip
claims that those actions produced the corrupted motion.

- ``shuffle``: frames in a wrong order (time runs backwards or jumps);
- ``freeze``: one frame held still while actions keep pushing;
- ``teleport``: from a random frame on, the clip continues with another clip's frames.

Imagined clips (Predict's open-loop futures) are the other negatives; they come from
:func:`worldmodels.sampler.imagine`.
"""

from __future__ import annotations

import torch


def _time_index(latents: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Gather frames along time: latents (B, T, ...), index (B, T) -> (B, T, ...)."""
    shape = index.shape + (1,) * (latents.dim() - 2)
    return torch.gather(latents, 1, index.view(shape).expand(-1, -1, *latents.shape[2:]))


def shuffle(
    latents: torch.Tensor, obs: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every clip's frames in a random order other than the true one (reversed where the
    draw happened to be the identity)."""
    b, t = latents.shape[:2]
    order = torch.rand(b, t, generator=generator, device=latents.device).argsort(1)  # (B, T)
    identity = (order == torch.arange(t, device=latents.device)).all(1, keepdim=True)
    order = torch.where(identity, order.flip(1), order)
    return _time_index(latents, order), _time_index(obs, order)


def freeze(
    latents: torch.Tensor, obs: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """From a random frame k >= 1 on, frame k-1 is repeated."""
    b, t = latents.shape[:2]
    k = torch.randint(1, t, (b, 1), generator=generator, device=latents.device)  # (B, 1)
    steps = torch.arange(t, device=latents.device)[None]
    order = torch.where(steps >= k, k - 1, steps)  # (B, T)
    return _time_index(latents, order), _time_index(obs, order)


def teleport(
    latents: torch.Tensor, obs: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """From a random frame k >= 1 on, the frames of another clip of the batch (the batch
    rolled by a random shift, so never the clip itself when B > 1)."""
    b, t = latents.shape[:2]
    k = torch.randint(1, t, (b,), generator=generator, device=latents.device)
    shift = int(torch.randint(1, max(b, 2), (1,), generator=generator).item())
    after = torch.arange(t, device=latents.device)[None] >= k[:, None]  # (B, T)
    z = torch.where(after[..., None, None, None], latents.roll(shift, 0), latents)
    o = torch.where(after[..., None], obs.roll(shift, 0), obs)
    return z, o


CORRUPTIONS = {"shuffle": shuffle, "freeze": freeze, "teleport": teleport}
