"""Few-step sampling of Predict's next frame: Euler steps on the rectified-flow ODE.

The flow runs from noise (tau = 1) to data (tau = 0); the model returns a clean-frame
estimate x0, so one step is ``x <- x0 + (tau_next / tau) (x - x0)`` and a single step
returns x0 itself. The observation and the frame are drawn together, in the same passes.
A shortcut model (``shortcut_levels`` > 0) is told the step size (:func:`step_schedule`), so
that its few steps land where its many would. A model that can cache its context
(:attr:`~worldmodels.predict.PredictConfig.cacheable`) samples from a
:class:`~worldmodels.predict.ContextCache` (:func:`sample_next_cached`): a step computes
the new frame's tokens only (and, in its first pass, the previous frame's, entering it in
the cache).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from worldmodels.predict import ContextCache, PredictConfig, PredictModel


@dataclass(frozen=True)
class SamplingConfig:
    """How each imagined step is drawn: built once (by the env, a benchmark, a stage) and passed whole."""

    steps: int | None = None
    """Euler steps from noise to data (1: the one-pass x0 estimate); None: the model's ``rollout_sampler_steps``."""
    best_of: int = 1
    """Candidates per step; the one Reason finds most plausible is kept (> 1 needs a critic)."""
    context_noise: float | None = None
    """Noise level in [0, 1) given to imagined context frames; None: the model's ``rollout_context_noise``."""
    limit: float | None = 5.0
    """Imagined values are clamped to this many dataset stds of the mean (None: no clamp)."""

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"sampler steps must be >= 1, got {self.steps}")
        if self.best_of < 1:
            raise ValueError(f"best_of must be >= 1, got {self.best_of}")
        if self.context_noise is not None and not 0 <= self.context_noise < 1:
            raise ValueError(f"context_noise must be in [0, 1) or None, got {self.context_noise}")
        if self.limit is not None and self.limit <= 0:
            raise ValueError(f"limit must be > 0 or None, got {self.limit}")

    def noise_for(self, config: PredictConfig) -> float:
        """The context noise level to use with a model of this config."""
        return config.rollout_context_noise if self.context_noise is None else self.context_noise

    def steps_for(self, config: PredictConfig) -> int:
        """The sampler steps to use with a model of this config."""
        return config.rollout_sampler_steps if self.steps is None else self.steps


def step_level(config: PredictConfig, steps: int) -> int | None:
    """The shortcut level of a ``steps``-step uniform sampler (None for a model without
    shortcut levels). Raises ValueError unless ``steps`` is a power of two up to 2^levels."""
    if not config.shortcut_levels:
        return None
    base = 2**config.shortcut_levels
    if steps > base or steps & (steps - 1):
        raise ValueError(f"this shortcut model samples in 1, 2, 4, ... {base} steps, not {steps}")
    return config.shortcut_levels - (steps.bit_length() - 1)


@dataclass(frozen=True)
class StepSchedule:
    """The noise levels a sampler visits and the shortcut level of each step."""

    taus: tuple[float, ...]
    """From 1 (noise) to 0 (data), one more than there are steps."""
    levels: tuple[int, ...] | None
    """Per step, the shortcut level of its size (None for a model without shortcut levels)."""


def step_schedule(config: PredictConfig, steps: int) -> StepSchedule:
    """The ``steps``-step schedule of a model of this config. Without shortcut levels:
    uniform. A shortcut model steps only in the sizes it was trained on (powers of two down
    to 1 / 2^levels), so a count p <= ``steps`` < 2p (p a power of two) takes p equal steps
    and halves the last ``steps`` - p of them, those nearest the data: 3 steps are 1/2, 1/4,
    1/4. Raises ValueError for ``steps`` < 1 or above 2^levels."""
    if steps < 1:
        raise ValueError(f"sampler steps must be >= 1, got {steps}")
    if not config.shortcut_levels:
        return StepSchedule(tuple(torch.linspace(1, 0, steps + 1).tolist()), None)
    base = 2**config.shortcut_levels
    if steps > base:
        raise ValueError(f"this shortcut model samples in 1 to {base} steps, not {steps}")
    p = 1 << (steps.bit_length() - 1)  # the largest power of two <= steps
    halved = steps - p
    levels = [step_level(config, p)] * (p - halved) + ([step_level(config, 2 * p)] * (2 * halved) if halved else [])
    taus = [1.0]
    for level in levels:
        taus.append(max(taus[-1] - 2.0 ** (level - config.shortcut_levels), 0.0))
    return StepSchedule(tuple(taus), tuple(levels))


Generators = torch.Generator | Sequence[torch.Generator] | None
"""One generator for the whole batch, one per row (row i's noise then depends on its own
generator only, whatever the batch), or None (torch's global one)."""


def draw_noise(shapes: Sequence[tuple[int, ...]], generator: Generators, device: torch.device) -> list[torch.Tensor]:
    """Standard normal tensors of ``shapes`` (each (B, ...)), from ``generator``: with one
    generator per row, row i of every tensor comes from generator i in one draw."""
    if generator is None or isinstance(generator, torch.Generator):
        return [torch.randn(shape, generator=generator, device=device) for shape in shapes]
    b = shapes[0][0]
    if len(generator) != b:
        raise ValueError(f"{len(generator)} generators for a batch of {b}")
    sizes = [int(torch.Size(shape[1:]).numel()) for shape in shapes]
    rows = torch.stack([torch.randn(sum(sizes), generator=g, device=g.device) for g in generator]).to(device)
    return [part.reshape(shape) for part, shape in zip(rows.split(sizes, 1), shapes)]


Denoiser = Callable[[torch.Tensor, torch.Tensor, float, int | None], tuple[torch.Tensor, torch.Tensor]]
"""(noisy latent (B, 1, C, h, w), noisy obs (B, 1, D), tau, shortcut level or None) -> their
clean estimates x0, normalised."""


def euler(
    denoise: Denoiser, z: torch.Tensor, o: torch.Tensor, schedule: StepSchedule, limit: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euler steps from noise ``z``, ``o`` (tau = 1) to data (tau = 0) along ``schedule``,
    each ``x <- x0 + (tau_next / tau) (x - x0)``; the result clamped to ``limit`` (None: not)."""
    levels = schedule.levels or (None,) * (len(schedule.taus) - 1)
    for tau, tau_next, level in zip(schedule.taus[:-1], schedule.taus[1:], levels):
        z0, o0 = denoise(z, o, tau, level)
        z, o = z0 + (tau_next / tau) * (z - z0), o0 + (tau_next / tau) * (o - o0)
    if limit is not None:
        z, o = z.clamp(-limit, limit), o.clamp(-limit, limit)
    return z, o


@torch.no_grad()
def sample_next(
    model: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    sampling: SamplingConfig = SamplingConfig(),
    context_levels: float | torch.Tensor = 0.0,
    task: torch.Tensor | None = None,
    generator: Generators = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame after a context window, raw (unnormalised) values.

    latents (B, K, C, h, w), obs (B, K, D): the last K frames; actions (B, K, A): the
    actions between them, the last one taken now. ``context_levels``: the noise level of
    the context, one float or (B, K) per frame. Uses ``sampling``'s steps and ``.limit``;
    noise from ``generator`` (see :data:`Generators`). Returns the next latent (B, C, h, w)
    and observation (B, D).
    """
    b, k = latents.shape[:2]
    ctx_z, ctx_o = model.normalize_latents(latents), model.normalize_obs(obs)
    ctx_levels = torch.as_tensor(context_levels, dtype=ctx_o.dtype, device=ctx_o.device).expand(b, k)  # (B, K)
    noised = (ctx_levels > 0).any() if isinstance(context_levels, torch.Tensor) else context_levels > 0
    shapes = [tuple(ctx_z.shape), tuple(ctx_o.shape)] if noised else []  # a float needs no device sync
    shapes += [(b, 1, *latents.shape[2:]), (b, 1, obs.shape[-1])]
    *context_noise, z, o = draw_noise(shapes, generator, latents.device)
    if noised:
        lz, lo = ctx_levels[..., None, None, None], ctx_levels[..., None]
        ctx_z = (1 - lz) * ctx_z + lz * context_noise[0]
        ctx_o = (1 - lo) * ctx_o + lo * context_noise[1]
    z, o = z.to(latents.dtype), o.to(obs.dtype)
    levels = torch.cat([ctx_levels, ctx_levels.amax(1, keepdim=True)], 1)  # (B, K+1)
    schedule = step_schedule(model.config, sampling.steps_for(model.config))
    step_levels = None if schedule.levels is None else torch.zeros(b, k + 1, dtype=torch.long, device=latents.device)

    def denoise(z: torch.Tensor, o: torch.Tensor, tau: float, level: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        levels[:, -1] = tau
        if step_levels is not None:
            step_levels[:, -1] = level
        z0, o0 = model(torch.cat([ctx_z, z], 1), torch.cat([ctx_o, o], 1), actions, levels, task, step_levels)
        return z0[:, -1:], o0[:, -1:]  # (B, 1, ...)

    z, o = euler(denoise, z, o, schedule, sampling.limit)
    return model.denormalize_latents(z[:, 0]), model.denormalize_obs(o[:, 0])


@torch.no_grad()
def prime_cache(
    model: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    task: torch.Tensor | None = None,
) -> ContextCache:
    """The cache of a window of clean context frames, raw values: latents (B, K, C, h, w),
    obs (B, K, D), actions (B, K-1, A) between them; the last ``band`` frames are kept."""
    z, o = model.normalize_latents(latents), model.normalize_obs(obs)
    clean = torch.zeros(latents.shape[:2], device=latents.device)
    _, _, cache = model.forward_cached(z, o, actions, clean, task=task)
    return cache.last(model.config.band)


@dataclass(frozen=True)
class NewestFrame:
    """A history's newest frame, not yet in its :class:`~worldmodels.predict.ContextCache`:
    the next sampling step enters it there, in the same pass as its first denoising one."""

    latent: torch.Tensor
    """(B, C, h, w) raw."""
    obs: torch.Tensor
    """(B, D) raw."""
    action: torch.Tensor | None
    """(B, A): the action into it (unused, may be None, when the cache is None: a one-frame history)."""
    level: torch.Tensor | None = None
    """(B,): the noise level it enters the cache at (an imagined frame's context noise); None: clean."""


@torch.no_grad()
def sample_next_cached(
    model: PredictModel,
    cache: ContextCache | None,
    newest: NewestFrame,
    action: torch.Tensor,
    sampling: SamplingConfig = SamplingConfig(),
    task: torch.Tensor | None = None,
    generator: Generators = None,
) -> tuple[torch.Tensor, torch.Tensor, ContextCache]:
    """The frame after ``newest`` under ``action`` (B, A), ``cache`` holding the frames
    before ``newest`` (None: none). Returns the next latent (B, C, h, w) and observation
    (B, D), raw, and the cache with ``newest`` entered: the first sampler pass computes its
    keys and values beside the new frame's, so a step costs as many passes as sampler steps.
    Uses ``sampling``'s steps and ``.limit``; noise from ``generator`` (see :data:`Generators`)."""
    b, cfg = action.shape[0], model.config
    z_newest, o_newest = model.normalize_latents(newest.latent)[:, None], model.normalize_obs(newest.obs)[:, None]
    noised = newest.level is not None and bool((newest.level > 0).any())  # None: clean, with no device sync
    level_in = newest.level if noised else torch.zeros(b, device=action.device)  # (B,)
    shapes = [tuple(z_newest.shape), tuple(o_newest.shape)] if noised else []
    shapes += [(b, 1, cfg.latent_channels, cfg.latent_size, cfg.latent_size), (b, 1, cfg.obs_dim)]
    *newest_noise, z, o = draw_noise(shapes, generator, action.device)
    if noised:
        lz, lo = level_in[:, None, None, None, None], level_in[:, None, None]
        z_newest = (1 - lz) * z_newest + lz * newest_noise[0]
        o_newest = (1 - lo) * o_newest + lo * newest_noise[1]
    schedule = step_schedule(cfg, sampling.steps_for(cfg))
    actions = action[:, None] if cache is None else torch.stack([newest.action, action], 1)  # into each frame
    extended: ContextCache | None = None

    def denoise(z: torch.Tensor, o: torch.Tensor, tau: float, level: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal extended
        step_levels = None if level is None else torch.tensor([0, level], device=action.device).expand(b, 2)
        if extended is None:  # the first pass: the newest frame and the noisy next one together
            levels = torch.stack([level_in, torch.full_like(level_in, tau)], 1)  # (B, 2)
            window = torch.cat([z_newest, z], 1), torch.cat([o_newest, o], 1)
            z0, o0, entry = model.forward_cached(
                *window, actions, levels, cache, task, step_levels, cache_frames=1, outputs_from=1
            )  # the newest frame is for the cache only
            # room for the later passes' one frame and the next step's first pass's two
            extended = entry.last(cfg.band) if cache is None else cache.then(entry, cfg.band, room=2)
            return z0, o0
        levels = torch.full((b, 1), tau, device=action.device)
        step_levels = None if step_levels is None else step_levels[:, 1:]
        z0, o0, _ = model.forward_cached(z, o, action[:, None], levels, extended, task, step_levels)
        return z0, o0

    z, o = euler(denoise, z, o, schedule, sampling.limit)
    return model.denormalize_latents(z[:, 0]), model.denormalize_obs(o[:, 0]), extended


@torch.no_grad()
def context_window(
    latents: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor, context: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The last ``context`` frames of a real clip and the actions between them.

    latents (B, T, C, h, w), obs (B, T, D), actions (B, T-1, A) -> (B, K, C, h, w),
    (B, K, D), (B, K-1, A). A shorter clip is padded in front with its first frame and
    zero actions, as training pads an episode's first windows.
    """
    pad = max(0, context - latents.shape[1])
    z = torch.cat([latents[:, :1].expand(-1, pad, *latents.shape[2:]), latents], 1)[:, -context:]  # (B, K, C, h, w)
    o = torch.cat([obs[:, :1].expand(-1, pad, -1), obs], 1)[:, -context:]  # (B, K, D)
    a = torch.cat([actions.new_zeros(actions.shape[0], pad, actions.shape[2]), actions], 1)
    return z, o, a[:, a.shape[1] - (context - 1) :]  # (B, K-1, A)
