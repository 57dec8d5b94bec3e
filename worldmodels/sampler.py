"""Few-step sampling of the next frame from Predict (Euler on the rectified-flow ODE).

The flow runs from noise (tau = 1) to data (tau = 0); the model returns a clean-frame
estimate x0, so one step is ``x <- x0 + (tau_next / tau) (x - x0)`` and a single step
returns x0 itself: the distilled one-step path. More steps trade speed for sharpness.
The observation and the frame are drawn together, in the same network passes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worldmodels.predict import PredictModel


@torch.no_grad()
def sample_next(
    model: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    steps: int = 1,
    context_noise: float | torch.Tensor = 0.0,
    task: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    limit: float | None = 5.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagine the frame after a context window (raw, unnormalised values).

    latents (B, K, C, h, w) and obs (B, K, D): the last K frames; actions (B, K, A): the
    actions between them, the last one being the action taken now. ``context_noise``: the
    noise level given to the context, one for all frames or (B, K) per frame. ``limit`` keeps every
    imagined value within that many dataset standard deviations of the dataset mean: in
    a long open-loop rollout an error that leaves the data's range feeds on itself.
    Returns the next latent frame (B, C, h, w) and observation (B, D).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    b, k = latents.shape[:2]
    ctx_z, ctx_o = model.normalize_latents(latents), model.normalize_obs(obs)
    ctx_levels = torch.as_tensor(context_noise, dtype=ctx_o.dtype, device=ctx_o.device).expand(b, k)  # (B, K)
    noised = (ctx_levels > 0).any() if isinstance(context_noise, torch.Tensor) else context_noise > 0
    if noised:  # a float needs no device sync; a tensor of levels does
        lz, lo = ctx_levels[..., None, None, None], ctx_levels[..., None]
        ctx_z = (1 - lz) * ctx_z + lz * torch.randn(ctx_z.shape, generator=generator, device=ctx_z.device)
        ctx_o = (1 - lo) * ctx_o + lo * torch.randn(ctx_o.shape, generator=generator, device=ctx_o.device)
    z = torch.randn((b, 1, *latents.shape[2:]), generator=generator, device=latents.device, dtype=latents.dtype)
    o = torch.randn((b, 1, obs.shape[-1]), generator=generator, device=obs.device, dtype=obs.dtype)
    taus = torch.linspace(1, 0, steps + 1).tolist()
    levels = torch.cat([ctx_levels, ctx_levels.amax(1, keepdim=True)], 1)  # (B, K+1)
    for tau, tau_next in zip(taus[:-1], taus[1:]):  # Euler from noise (tau = 1) to data (0)
        levels[:, -1] = tau
        z0, o0 = model(torch.cat([ctx_z, z], 1), torch.cat([ctx_o, o], 1), actions, levels, task)
        z0, o0 = z0[:, -1:], o0[:, -1:]  # (B, 1, ...)
        z, o = z0 + (tau_next / tau) * (z - z0), o0 + (tau_next / tau) * (o - o0)
    if limit is not None:
        z, o = z.clamp(-limit, limit), o.clamp(-limit, limit)
    return model.denormalize_latents(z[:, 0]), model.denormalize_obs(o[:, 0])


@torch.no_grad()
def context_window(
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    context: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The last ``context`` frames of a real clip and the actions between them; a shorter
    clip is padded in front by repeating its first frame with zero actions, as training
    pads an episode's first windows. latents (B, T, C, h, w), obs (B, T, D), actions
    (B, T-1, A) -> (B, K, C, h, w), (B, K, D), (B, K-1, A)."""
    pad = max(0, context - latents.shape[1])
    z = torch.cat([latents[:, :1].expand(-1, pad, *latents.shape[2:]), latents], 1)[:, -context:]  # (B, K, C, h, w)
    o = torch.cat([obs[:, :1].expand(-1, pad, -1), obs], 1)[:, -context:]  # (B, K, D)
    a = torch.cat([actions.new_zeros(actions.shape[0], pad, actions.shape[2]), actions], 1)
    return z, o, a[:, a.shape[1] - (context - 1) :]  # (B, K-1, A)


def imagine(
    model: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    real: int,
    context: int,
    steps: int = 1,
    generator: torch.Generator | None = None,
    context_noise: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the frames of clips from index ``real`` on by Predict's open-loop future.

    latents (B, T, C, h, w), obs (B, T, D), actions (B, T-1, A), raw values. The frames
    before ``real`` are the context (left-padded to ``context`` frames by repeating the
    first, as at an episode start); the clip's own actions drive the imagination, with
    imagined context frames noised to ``context_noise`` (default: the model's
    ``rollout_context_noise``), as :meth:`worldmodels.world_model.WorldModel.step` does.
    Returns latents and obs of the same shapes, real up to ``real``, imagined after.
    """
    t = latents.shape[1]
    if not 1 <= real <= t:
        raise ValueError(f"real must be in [1, {t}], got {real}")
    hist_z, hist_o, hist_a = context_window(latents[:, :real], obs[:, :real], actions[:, : real - 1], context)
    if context_noise is None:
        context_noise = model.config.rollout_context_noise
    levels = torch.zeros(latents.shape[0], context, device=latents.device)  # (B, K)
    out_z, out_o = [latents[:, :real]], [obs[:, :real]]
    for i in range(real, t):
        step_actions = torch.cat([hist_a, actions[:, i - 1 : i]], 1)  # (B, K, A)
        z, o = sample_next(model, hist_z, hist_o, step_actions, steps=steps, generator=generator, context_noise=levels)
        levels = F.pad(levels[:, 1:], (0, 1), value=context_noise)
        out_z.append(z[:, None])
        out_o.append(o[:, None])
        hist_z = torch.cat([hist_z[:, 1:], z[:, None]], 1)
        hist_o = torch.cat([hist_o[:, 1:], o[:, None]], 1)
        hist_a = step_actions[:, 1:]
    return torch.cat(out_z, 1), torch.cat(out_o, 1)
