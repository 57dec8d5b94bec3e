"""A world model: tokenizer + Predict (+ Reason), stepped one imagined frame at a time.

A :class:`History` holds the last K latent frames, observations and the actions between
them. It starts from a single real frame repeated K times with zero actions, exactly as
training windows are padded at an episode start, so one frame is enough context.
With a Reason critic, every step is judged (reward, termination, plausibility) and
``best_of=K`` imagines K candidate frames in one batched pass and keeps the one the
critic finds most plausible (rejection sampling).
A directory holds ``tokenizer/``, ``predict/`` and optionally ``reason/`` (saved models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from worldmodels.checkpoint import from_pretrained, read_config, save_pretrained
from worldmodels.predict import PredictModel
from worldmodels.reason import ReasonModel
from worldmodels.sampler import context_window, sample_next
from worldmodels.tokenizer import Tokenizer, inverse_to_depth


@dataclass(frozen=True)
class History:
    latents: torch.Tensor
    """(B, K, C, h, w)."""
    obs: torch.Tensor
    """(B, K, D)."""
    actions: torch.Tensor
    """(B, K-1, A): the actions between consecutive frames."""
    age: torch.Tensor
    """(B, K) int64: each frame's steps since the last real frame (0: it came from a real
    start; n: Predict made it n steps after)."""

    @property
    def imagined(self) -> torch.Tensor:
        """(B, K) bool: which frames Predict made."""
        return self.age > 0

    def clip(self, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The last ``frames`` frames with the actions between them."""
        return self.latents[:, -frames:], self.obs[:, -frames:], self.actions[:, self.actions.shape[1] - frames + 1 :]

    def repeat(self, k: int) -> History:
        """Each history K times in a row (B*K, ...)."""
        return History(*(x.repeat_interleave(k, 0) for x in (self.latents, self.obs, self.actions, self.age)))

    def select(self, index: torch.Tensor) -> History:
        return History(self.latents[index], self.obs[index], self.actions[index], self.age[index])


@dataclass(frozen=True)
class Imagined:
    """One imagined step of a batch."""

    latent: torch.Tensor
    """(B, C, h, w) the new latent frame."""
    obs: torch.Tensor
    """(B, D) the new observation."""
    history: History
    """The history advanced by this step."""
    reward: torch.Tensor | None = None
    """(B,) from Reason, when the world model has one; likewise the two below."""
    terminated: torch.Tensor | None = None
    """(B,) probability that the new state is terminal."""
    plausibility: torch.Tensor | None = None
    """(B,) in [0, 1]."""


class WorldModel:
    def __init__(
        self, tokenizer: Tokenizer, predict: PredictModel, context: int, reason: ReasonModel | None = None
    ) -> None:
        if predict.config.latent_channels != tokenizer.config.latent_channels:
            raise ValueError(
                f"predict expects {predict.config.latent_channels} latent channels, "
                f"the tokenizer makes {tokenizer.config.latent_channels}"
            )
        if context + 1 > predict.config.max_frames:
            raise ValueError(f"context {context} + 1 exceeds predict max_frames={predict.config.max_frames}")
        if reason is not None and reason.config.clip > context:
            raise ValueError(f"reason judges clips of {reason.config.clip} frames, longer than the context {context}")
        self.tokenizer, self.predict, self.context = tokenizer.eval(), predict.eval(), context
        self.reason = reason.eval() if reason is not None else None

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> WorldModel:
        directory = Path(directory)
        tokenizer = from_pretrained(directory / "tokenizer", expected_class="Tokenizer", device=device)
        predict = from_pretrained(directory / "predict", expected_class="PredictModel", device=device)
        context = read_config(directory / "predict")["extra"].get("context", 4)
        reason = None
        if (directory / "reason").exists():
            reason = from_pretrained(directory / "reason", expected_class="ReasonModel", device=device)
        return cls(tokenizer, predict, context, reason)

    def save_pretrained(self, directory: str | Path, extra: dict | None = None) -> Path:
        directory = Path(directory)
        save_pretrained(self.tokenizer, directory / "tokenizer", extra=extra)
        save_pretrained(self.predict, directory / "predict", extra={**(extra or {}), "context": self.context})
        if self.reason is not None:
            save_pretrained(self.reason, directory / "reason", extra=extra)
        return directory

    @property
    def device(self) -> torch.device:
        return next(self.predict.parameters()).device

    @torch.no_grad()
    def start(self, rgb: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor | None = None) -> History:
        """History from real frames: one frame, rgb (B, H, W, 3) uint8 and obs (B, D), or a
        clip, rgb (B, T, H, W, 3), obs (B, T, D) and the actions between them (B, T-1, A).
        The last ``context`` frames are kept; fewer are padded in front with the first
        frame and zero actions, as training pads an episode's first windows."""
        if rgb.ndim == 4:
            rgb, obs = rgb[:, None], obs[:, None]
        b, t = rgb.shape[:2]
        a_dim = self.predict.config.action_dim
        if actions is None and t == 1:
            actions = torch.zeros(b, 0, a_dim)
        if rgb.ndim != 5 or obs.shape[:2] != (b, t) or actions is None or actions.shape != (b, t - 1, a_dim):
            raise ValueError(
                f"start takes rgb (B, T, H, W, 3), obs (B, T, D) and actions (B, T-1, {a_dim}); got rgb "
                f"{tuple(rgb.shape)}, obs {tuple(obs.shape)}, "
                f"actions {None if actions is None else tuple(actions.shape)}"
            )
        frames = rgb.to(self.device).permute(0, 1, 4, 2, 3).float() / 255  # (B, T, 3, H, W)
        z = self.tokenizer.encode(frames)  # (B, T, C, h, w), causal
        obs, actions = obs.to(self.device, torch.float32), actions.to(self.device, torch.float32)
        latents, obs, actions = context_window(z, obs, actions, self.context)  # (B, K, ...)
        age = torch.zeros(b, self.context, dtype=torch.long, device=self.device)
        return History(latents.contiguous(), obs.contiguous(), actions.contiguous(), age)

    @torch.no_grad()
    def step(
        self,
        history: History,
        action: torch.Tensor,
        sampler_steps: int = 1,
        generator: torch.Generator | None = None,
        context_noise: float | None = None,
        best_of: int = 1,
    ) -> Imagined:
        """Imagine the frame after ``action`` (B, A) and judge it when there is a critic.

        ``context_noise`` (default: the model's ``PredictConfig.rollout_context_noise``)
        noises the imagined frames of the context to that level first, hiding their
        errors (training noised context frames up to its ``context_noise``); frames from
        a real start stay clean.
        ``best_of`` > 1 needs a critic: that many candidates per env, the most plausible kept."""
        if best_of < 1:
            raise ValueError(f"best_of must be >= 1, got {best_of}")
        if best_of > 1 and self.reason is None:
            raise ValueError("best_of > 1 needs a Reason critic; this world model has none")
        action = action.to(self.device, torch.float32)
        candidates = history.repeat(best_of) if best_of > 1 else history
        cand_actions = action.repeat_interleave(best_of, 0) if best_of > 1 else action
        actions = torch.cat([candidates.actions, cand_actions[:, None]], 1)  # (B*K, K_ctx, A)
        if context_noise is None:
            context_noise = self.predict.config.rollout_context_noise
        # per context frame (B*K, K_ctx); a plain 0.0 when off, so the sampler needs no device sync
        levels = context_noise * candidates.imagined.float() if context_noise > 0 else 0.0
        z, o = sample_next(
            self.predict,
            candidates.latents,
            candidates.obs,
            actions,
            steps=sampler_steps,
            context_noise=levels,
            generator=generator,
        )
        nxt = History(
            latents=torch.cat([candidates.latents[:, 1:], z[:, None]], 1),
            obs=torch.cat([candidates.obs[:, 1:], o[:, None]], 1),
            actions=actions[:, 1:],
            age=torch.cat([candidates.age[:, 1:], candidates.age[:, -1:] + 1], 1),
        )
        if self.reason is None:
            return Imagined(z, o, nxt)
        judged = self.reason.judge(*nxt.clip(self.reason.config.clip))  # (B*K,) each
        if best_of > 1:
            b = action.shape[0]
            best = judged["plausibility"].view(b, best_of).argmax(1) + torch.arange(b, device=self.device) * best_of
            z, o, nxt = z[best], o[best], nxt.select(best)
            judged = {k: v[best] for k, v in judged.items()}
        return Imagined(z, o, nxt, judged["reward"], judged["terminated"], judged["plausibility"])

    @torch.no_grad()
    def rollout(
        self,
        rgb: torch.Tensor,
        obs: torch.Tensor,
        actions: torch.Tensor,
        sampler_steps: int = 1,
        generator: torch.Generator | None = None,
        context_noise: float | None = None,
        best_of: int = 1,
        context_actions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Open loop from real frames (one, or a clip with ``context_actions``: see
        ``start``): actions (B, N, A) -> latents (B, N+1, C, h, w) and observations
        (B, N+1, D), the first being the last real frame."""
        history = self.start(rgb, obs, context_actions)
        latents, observations = [history.latents[:, -1]], [history.obs[:, -1]]
        for t in range(actions.shape[1]):
            imagined = self.step(history, actions[:, t], sampler_steps, generator, context_noise, best_of)
            history = imagined.history
            latents.append(imagined.latent)
            observations.append(imagined.obs)
        return torch.stack(latents, 1), torch.stack(observations, 1)

    @torch.no_grad()
    def decode_latest(self, history: History) -> dict[str, torch.Tensor]:
        """The newest frame of a history, decoded as :meth:`decode` decodes a whole clip
        (the decoder looks a latent back, and knows each one's age): ``rgb`` (B, H, W, 3)
        uint8, ``depth``, ``segmentation`` (B, H, W)."""
        k = self.tokenizer.decoder_receptive_field
        out = self.decode(history.latents[:, -k:], history.age[:, -k:])
        return {k: v[:, -1] for k, v in out.items()}

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, age: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Latents (B, T, C, h, w) -> ``rgb`` (B, T, H, W, 3) uint8, ``depth`` (B, T, H, W)
        metres, ``segmentation`` (B, T, H, W) uint8 ids. ``age`` (B, T): steps since the
        last real frame (None: all real; a clip from :meth:`rollout` has ages 0, 1, 2, ...)."""
        out = self.tokenizer.decode(latents.to(self.device), age)
        return {
            "rgb": (out["rgb"].permute(0, 1, 3, 4, 2) * 255).round().clamp(0, 255).to(torch.uint8),
            "depth": inverse_to_depth(out["inverse_depth"]),
            "segmentation": out["segmentation"].argmax(2).to(torch.uint8),
        }
