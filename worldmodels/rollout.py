"""Imagining forward from a history: one step (Predict, then Reason's judgement and
best-of-K), and the open-loop rollout built from it that every caller uses (the env
steps, the fidelity benchmark, Reason's negatives, the decoder stage)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodels.predict import ContextCache, PredictModel
from worldmodels.reason import ReasonModel
from worldmodels.sampler import (
    Generators,
    NewestFrame,
    SamplingConfig,
    context_window,
    prime_cache,
    sample_next,
    sample_next_cached,
)


@dataclass(frozen=True)
class History:
    """The last K latent frames, observations and the actions between them."""

    latents: torch.Tensor
    """(B, K, C, h, w)."""
    obs: torch.Tensor
    """(B, K, D)."""
    actions: torch.Tensor
    """(B, K-1, A): the actions between consecutive frames."""
    age: torch.Tensor
    """(B, K) int64: each frame's steps since the last real frame (0: real)."""
    cache: ContextCache | None = None
    """Predict's keys and values of these frames but the newest (which the next step enters),
    for a model that caches its context (made at the first step, see :func:`imagine_step`)."""

    @classmethod
    def from_clip(cls, latents: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor, context: int) -> History:
        """A history of real frames: the clip's last ``context`` frames (see :func:`context_window`)."""
        z, o, a = context_window(latents, obs, actions, context)
        age = torch.zeros(z.shape[:2], dtype=torch.long, device=z.device)
        return cls(z.contiguous(), o.contiguous(), a.contiguous(), age)

    def primed(self, predict: PredictModel) -> History:
        """This history with ``predict``'s cache of its frames but the newest (none for a
        one-frame history); ``predict`` must be cacheable."""
        if self.latents.shape[1] < 2:
            return self
        cache = prime_cache(predict, self.latents[:, :-1], self.obs[:, :-1], self.actions[:, :-1])
        return History(self.latents, self.obs, self.actions, self.age, cache)

    @property
    def imagined(self) -> torch.Tensor:
        """(B, K) bool: which frames Predict made."""
        return self.age > 0

    def clip(self, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The last ``frames`` frames with the actions between them."""
        return self.latents[:, -frames:], self.obs[:, -frames:], self.actions[:, self.actions.shape[1] - frames + 1 :]

    def repeat(self, k: int) -> History:
        """Each history K times in a row (B*K, ...)."""
        tensors = (x.repeat_interleave(k, 0) for x in (self.latents, self.obs, self.actions, self.age))
        return History(*tensors, cache=self.cache.repeat(k) if self.cache is not None else None)

    def select(self, index: torch.Tensor, with_cache: bool = True) -> History:
        """Rows ``index``; without their cache when ``with_cache`` is False (enough to decode frames)."""
        cache = self.cache.select(index) if self.cache is not None and with_cache else None
        return History(self.latents[index], self.obs[index], self.actions[index], self.age[index], cache)

    def assign(self, index: torch.Tensor, other: History) -> History:
        """Rows ``index`` replaced by ``other``'s (envs starting over); the others kept."""
        for name in ("latents", "obs", "actions", "age"):
            getattr(self, name)[index] = getattr(other, name)
        if self.cache is None or other.cache is None:  # a cache is remade at the next step
            return History(self.latents, self.obs, self.actions, self.age)
        return History(self.latents, self.obs, self.actions, self.age, self.cache.assign(index, other.cache))


@dataclass(frozen=True)
class ImaginedStep:
    """One imagined step of a batch."""

    latent: torch.Tensor
    """(B, C, h, w) the new latent frame."""
    obs: torch.Tensor
    """(B, D) the new observation."""
    history: History
    """The history advanced by this step."""
    reward: torch.Tensor | None = None
    """(B,) from Reason, when there is a critic; likewise the two below."""
    terminated: torch.Tensor | None = None
    """(B,) probability that the new state is terminal."""
    plausibility: torch.Tensor | None = None
    """(B,) in [0, 1]."""


@torch.no_grad()
def imagine_step(
    predict: PredictModel,
    history: History,
    action: torch.Tensor,
    sampling: SamplingConfig = SamplingConfig(),
    generator: Generators = None,
    reason: ReasonModel | None = None,
) -> ImaginedStep:
    """Imagine the frame after ``action`` (B, A) and judge it when there is a critic.

    Imagined context frames are noised to ``sampling.noise_for(predict.config)``; real ones
    stay clean. ``sampling.best_of`` > 1 draws that many candidates per env in one batch
    and keeps the most plausible. Raises ValueError for best_of > 1 without a critic.
    """
    k = sampling.best_of
    if k > 1 and reason is None:
        raise ValueError("best_of > 1 needs a Reason critic; this world model has none")
    action = action.to(history.latents.device, torch.float32)
    candidates = history.repeat(k) if k > 1 else history
    cand_actions = action.repeat_interleave(k, 0) if k > 1 else action
    if k > 1 and generator is not None and not isinstance(generator, torch.Generator):
        generator = [g for g in generator for _ in range(k)]  # an env's K candidates draw from its own
    actions = torch.cat([candidates.actions, cand_actions[:, None]], 1)  # (B*k, K, A)
    noise = sampling.noise_for(predict.config)
    cache = None
    if predict.config.cacheable:
        cache = candidates.cache
        if cache is None:  # the first step from real frames (their cache is shared by the candidates)
            cache = history.primed(predict).cache
            cache = cache.repeat(k) if k > 1 and cache is not None else cache
        newest = NewestFrame(
            candidates.latents[:, -1],
            candidates.obs[:, -1],
            candidates.actions[:, -1] if candidates.actions.shape[1] else None,
            noise * (candidates.age[:, -1] > 0).float() if noise > 0 else None,  # imagined frames enter noised
        )
        z, o, cache = sample_next_cached(predict, cache, newest, cand_actions, sampling, generator=generator)
    else:
        # per context frame (B*k, K); a plain 0.0 when off, so the sampler needs no device sync
        levels = noise * candidates.imagined.float() if noise > 0 else 0.0
        z, o = sample_next(predict, candidates.latents, candidates.obs, actions, sampling, levels, generator=generator)
    nxt = History(
        latents=torch.cat([candidates.latents[:, 1:], z[:, None]], 1),
        obs=torch.cat([candidates.obs[:, 1:], o[:, None]], 1),
        actions=actions[:, 1:],
        age=torch.cat([candidates.age[:, 1:], candidates.age[:, -1:] + 1], 1),
        cache=cache,
    )
    if reason is None:
        return ImaginedStep(z, o, nxt)
    judged = reason.judge(*nxt.clip(reason.config.clip))  # (B*k,) each
    if k > 1:
        b = action.shape[0]
        best = judged["plausibility"].view(b, k).argmax(1) + torch.arange(b, device=z.device) * k
        z, o, nxt = z[best], o[best], nxt.select(best)
        judged = {name: v[best] for name, v in judged.items()}
    return ImaginedStep(z, o, nxt, judged["reward"], judged["terminated"], judged["plausibility"])


@torch.no_grad()
def rollout(
    predict: PredictModel,
    history: History,
    actions: torch.Tensor,
    sampling: SamplingConfig = SamplingConfig(),
    generator: torch.Generator | None = None,
    reason: ReasonModel | None = None,
) -> tuple[torch.Tensor, torch.Tensor, History]:
    """Open loop: actions (B, N, A) -> latents (B, N+1, C, h, w), observations (B, N+1, D)
    (the first being the history's newest frame) and the history after the last step."""
    latents, observations = [history.latents[:, -1]], [history.obs[:, -1]]
    for t in range(actions.shape[1]):
        step = imagine_step(predict, history, actions[:, t], sampling, generator, reason)
        history = step.history
        latents.append(step.latent)
        observations.append(step.obs)
    return torch.stack(latents, 1), torch.stack(observations, 1), history


@torch.no_grad()
def imagine_clips(
    predict: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    real: int,
    context: int,
    sampling: SamplingConfig = SamplingConfig(),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips whose frames from index ``real`` on are replaced by Predict's open-loop future.

    latents (B, T, C, h, w), obs (B, T, D), actions (B, T-1, A), raw values; the first
    ``real`` frames are the context, the clip's own actions drive the rest. Returns latents
    and obs of the same shapes. Raises ValueError unless 1 <= real <= T.
    """
    t = latents.shape[1]
    if not 1 <= real <= t:
        raise ValueError(f"real must be in [1, {t}], got {real}")
    history = History.from_clip(latents[:, :real], obs[:, :real], actions[:, : real - 1], context)
    z, o, _ = rollout(predict, history, actions[:, real - 1 :], sampling, generator)
    return torch.cat([latents[:, :real], z[:, 1:]], 1), torch.cat([obs[:, :real], o[:, 1:]], 1)
