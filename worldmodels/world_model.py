"""A world model: tokenizer + Predict, stepped one imagined frame at a time.

A :class:`History` holds the last K latent frames, observations and the actions between
them. It starts from a single real frame repeated K times with zero actions, exactly as
training windows are padded at an episode start, so one frame is enough context.
A directory holds ``tokenizer/`` and ``predict/`` (each a saved model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from worldmodels.checkpoint import from_pretrained, read_config, save_pretrained
from worldmodels.predict import PredictModel
from worldmodels.sampler import sample_next
from worldmodels.tokenizer import Tokenizer, inverse_to_depth


@dataclass(frozen=True)
class History:
    latents: torch.Tensor
    """(B, K, C, h, w)."""
    obs: torch.Tensor
    """(B, K, D)."""
    actions: torch.Tensor
    """(B, K-1, A): the actions between consecutive frames."""


class WorldModel:
    def __init__(self, tokenizer: Tokenizer, predict: PredictModel, context: int) -> None:
        if predict.config.latent_channels != tokenizer.config.latent_channels:
            raise ValueError(
                f"predict expects {predict.config.latent_channels} latent channels, "
                f"the tokenizer makes {tokenizer.config.latent_channels}"
            )
        if context + 1 > predict.config.max_frames:
            raise ValueError(f"context {context} + 1 exceeds predict max_frames={predict.config.max_frames}")
        self.tokenizer, self.predict, self.context = tokenizer.eval(), predict.eval(), context

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> WorldModel:
        directory = Path(directory)
        tokenizer = from_pretrained(directory / "tokenizer", expected_class="Tokenizer", device=device)
        predict = from_pretrained(directory / "predict", expected_class="PredictModel", device=device)
        context = read_config(directory / "predict")["extra"].get("context", 4)
        return cls(tokenizer, predict, context)

    def save_pretrained(self, directory: str | Path, extra: dict | None = None) -> Path:
        directory = Path(directory)
        save_pretrained(self.tokenizer, directory / "tokenizer", extra=extra)
        save_pretrained(self.predict, directory / "predict", extra={**(extra or {}), "context": self.context})
        return directory

    @property
    def device(self) -> torch.device:
        return next(self.predict.parameters()).device

    @torch.no_grad()
    def start(self, rgb: torch.Tensor, obs: torch.Tensor) -> History:
        """History from one real frame: rgb (B, H, W, 3) uint8, obs (B, D)."""
        frames = rgb.to(self.device).permute(0, 3, 1, 2)[:, None].float() / 255   # (B, 1, 3, H, W)
        z = self.tokenizer.encode(frames)                                        # (B, 1, C, h, w)
        k, b = self.context, rgb.shape[0]
        return History(
            latents=z.expand(-1, k, -1, -1, -1).contiguous(),
            obs=obs.to(self.device, torch.float32)[:, None].expand(-1, k, -1).contiguous(),
            actions=torch.zeros(b, k - 1, self.predict.config.action_dim, device=self.device),
        )

    @torch.no_grad()
    def step(self, history: History, action: torch.Tensor, sampler_steps: int = 1,
             generator: torch.Generator | None = None, context_noise: float = 0.0,
             ) -> tuple[torch.Tensor, torch.Tensor, History]:  # fmt: skip
        """Imagine the next frame after ``action`` (B, A): returns its latent (B, C, h, w),
        its observation (B, D) and the advanced history. ``context_noise`` noises the
        context to that level first (training saw up to 0.1), hiding small errors of
        earlier imagined frames."""
        actions = torch.cat([history.actions, action.to(self.device, torch.float32)[:, None]], 1)  # (B, K, A)
        z, o = sample_next(self.predict, history.latents, history.obs, actions, steps=sampler_steps,
                           context_noise=context_noise, generator=generator)  # fmt: skip
        nxt = History(
            latents=torch.cat([history.latents[:, 1:], z[:, None]], 1),
            obs=torch.cat([history.obs[:, 1:], o[:, None]], 1),
            actions=actions[:, 1:],
        )
        return z, o, nxt

    @torch.no_grad()
    def rollout(self, rgb: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor, sampler_steps: int = 1,
                generator: torch.Generator | None = None, context_noise: float = 0.0,
                ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Open loop from one real frame: actions (B, N, A) -> latents (B, N+1, C, h, w) and
        observations (B, N+1, D), the first being the start."""
        history = self.start(rgb, obs)
        latents, observations = [history.latents[:, -1]], [history.obs[:, -1]]
        for t in range(actions.shape[1]):
            z, o, history = self.step(history, actions[:, t], sampler_steps, generator, context_noise)
            latents.append(z)
            observations.append(o)
        return torch.stack(latents, 1), torch.stack(observations, 1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latents (B, T, C, h, w) -> ``rgb`` (B, T, H, W, 3) uint8, ``depth`` (B, T, H, W)
        metres, ``segmentation`` (B, T, H, W) uint8 ids."""
        out = self.tokenizer.decode(latents.to(self.device))
        return {
            "rgb": (out["rgb"].permute(0, 1, 3, 4, 2) * 255).round().clamp(0, 255).to(torch.uint8),
            "depth": inverse_to_depth(out["inverse_depth"]),
            "segmentation": out["segmentation"].argmax(2).to(torch.uint8),
        }
