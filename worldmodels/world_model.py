"""A world model: tokenizer + Predict (+ Reason), stepped one imagined frame at a time.

:meth:`WorldModel.start` encodes real frames into a :class:`~worldmodels.rollout.History`
(one frame is enough: it is repeated, as training pads an episode start); ``step`` and
``rollout`` imagine from it (:mod:`worldmodels.rollout`); ``decode`` draws frames.
A directory holds ``tokenizer/``, ``predict/`` and optionally ``reason/`` and ``transfer/``
(saved models).
"""

from __future__ import annotations

from pathlib import Path

import torch

from worldmodels.checkpoint import from_pretrained, read_config, save_pretrained
from worldmodels.predict import PredictModel
from worldmodels.reason import ReasonModel
from worldmodels.rollout import History, ImaginedStep, imagine_step, rollout
from worldmodels.sampler import Generators, SamplingConfig
from worldmodels.tokenizer import DECODER_HEADS, Tokenizer, inverse_to_depth
from worldmodels.transfer import TransferModel, Weights


class WorldModel:
    def __init__(
        self,
        tokenizer: Tokenizer,
        predict: PredictModel,
        context: int,
        reason: ReasonModel | None = None,
        transfer: TransferModel | None = None,
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
        self.transfer = transfer.eval() if transfer is not None else None

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> WorldModel:
        directory = Path(directory)
        tokenizer = from_pretrained(directory / "tokenizer", expected_class="Tokenizer", device=device)
        predict = from_pretrained(directory / "predict", expected_class="PredictModel", device=device)
        context = read_config(directory / "predict")["extra"].get("context", 4)
        reason = transfer = None
        if (directory / "reason").exists():
            reason = from_pretrained(directory / "reason", expected_class="ReasonModel", device=device)
        if (directory / "transfer").exists():
            transfer = from_pretrained(directory / "transfer", expected_class="TransferModel", device=device)
        return cls(tokenizer, predict, context, reason, transfer)

    def save_pretrained(self, directory: str | Path, extra: dict | None = None) -> Path:
        directory = Path(directory)
        save_pretrained(self.tokenizer, directory / "tokenizer", extra=extra)
        save_pretrained(self.predict, directory / "predict", extra={**(extra or {}), "context": self.context})
        if self.reason is not None:
            save_pretrained(self.reason, directory / "reason", extra=extra)
        if self.transfer is not None:
            save_pretrained(self.transfer, directory / "transfer", extra=extra)
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
        history = History.from_clip(z, obs, actions, self.context)  # (B, K, ...), every frame real
        return history.primed(self.predict) if self.predict.config.cacheable else history

    @torch.no_grad()
    def step(
        self,
        history: History,
        action: torch.Tensor,
        sampling: SamplingConfig = SamplingConfig(),
        generator: Generators = None,
        judge: bool = True,
    ) -> ImaginedStep:
        """Imagine the frame after ``action`` (B, A), judged by the critic when there is one
        and ``judge`` (:func:`worldmodels.rollout.imagine_step`)."""
        return imagine_step(self.predict, history, action, sampling, generator, self.reason if judge else None)

    @torch.no_grad()
    def rollout(
        self,
        rgb: torch.Tensor,
        obs: torch.Tensor,
        actions: torch.Tensor,
        sampling: SamplingConfig = SamplingConfig(),
        generator: torch.Generator | None = None,
        context_actions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Open loop from real frames (one, or a clip with ``context_actions``: see
        :meth:`start`): actions (B, N, A) -> latents (B, N+1, C, h, w) and observations
        (B, N+1, D), the first being the last real frame."""
        latents, observations, _ = rollout(
            self.predict, self.start(rgb, obs, context_actions), actions, sampling, generator, self.reason
        )
        return latents, observations

    @torch.no_grad()
    def decode_latest(self, history: History, rgb_only: bool = False) -> dict[str, torch.Tensor]:
        """The newest frame of a history, decoded as :meth:`decode` decodes a whole clip
        (the decoder looks a latent back, and knows each one's age): ``rgb`` (B, H, W, 3)
        uint8, ``depth``, ``segmentation`` (B, H, W); only ``rgb`` with ``rgb_only``."""
        k = self.tokenizer.decoder_receptive_field
        out = self.decode(history.latents[:, -k:], history.age[:, -k:], last=1, rgb_only=rgb_only)
        return {k: v[:, -1] for k, v in out.items()}

    @torch.no_grad()
    def render_styled(self, history: History, styles: torch.Tensor, weights: Weights) -> torch.Tensor:
        """The newest frame of a history drawn by Transfer in ``styles`` (B, 12) from the
        decoder's canonical RGB, depth and segmentation, with control ``weights``
        (:func:`worldmodels.transfer.mix_weights`): (B, H, W, 3) uint8. Raises ValueError
        for a world model without Transfer."""
        if self.transfer is None:
            raise ValueError("this world model has no Transfer model (transfer/); train one with stage=transfer")
        frame = self.decode_latest(history)
        return self.transfer.render(frame["rgb"], frame["depth"], frame["segmentation"], styles, weights)

    @torch.no_grad()
    def decode(
        self, latents: torch.Tensor, age: torch.Tensor | None = None, last: int | None = None, rgb_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """Latents (B, T, C, h, w) -> ``rgb`` (B, T, H, W, 3) uint8, ``depth`` (B, T, H, W)
        metres, ``segmentation`` (B, T, H, W) uint8 ids. ``age`` (B, T): steps since the
        last real frame (None: all real; a clip from :meth:`rollout` has ages 0, 1, 2, ...).
        ``last``: only the last frames (T = last); ``rgb_only``: only ``rgb``."""
        heads = ("rgb",) if rgb_only else DECODER_HEADS
        out = self.tokenizer.decode(latents.to(self.device), age, last=last, heads=heads)
        decoded = {"rgb": (out["rgb"].permute(0, 1, 3, 4, 2) * 255).round().clamp(0, 255).to(torch.uint8)}
        if not rgb_only:
            decoded["depth"] = inverse_to_depth(out["inverse_depth"])
            decoded["segmentation"] = out["segmentation"].argmax(2).to(torch.uint8)
        return decoded
