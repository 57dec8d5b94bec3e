"""Reason: a critic over short clips of latent frames, proprio observations and actions.

It answers three questions about the last transition of a clip of T frames (the step
from frame T-2 to frame T-1 under action T-2): the reward MuJoCo would have paid, the
probability that the state reached is terminal, and how plausible the whole clip is
(a logit; ``sigmoid`` gives [0, 1]). Reward and termination are learned from MuJoCo's
labels, plausibility from real clips against imagined and corrupted ones (see
:mod:`worldmodels.corrupt` and :func:`worldmodels.losses.reason_loss`).

Tokens: each latent frame is cut into ``patch`` x ``patch`` patches (2: 16 a frame of
8x8 latents; 4 in ``small-v2``: 4 a frame), plus one proprio token per frame, one
action token per transition and one summary token whose output feeds the three heads.
Attention over the clip is dense and bidirectional.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ReasonConfig:
    obs_dim: int
    action_dim: int
    latent_channels: int = 8
    latent_size: int = 8
    clip: int = 4
    """Frames per clip (the last one is the frame being judged)."""
    patch: int = 2
    dim: int = 128
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 4.0
    task_dim: int = 0
    """Length of an optional task vector; 0 = none."""


REASON_SIZES = {
    "tiny": dict(dim=32, depth=1, heads=2),
    "small": dict(dim=128, depth=3, heads=4),
    "small-v2": dict(dim=128, depth=3, heads=4, patch=4),
    "base": dict(dim=384, depth=8, heads=6),
}


class ReasonModel(nn.Module):
    def __init__(self, config: ReasonConfig) -> None:
        super().__init__()
        if config.latent_size % config.patch:
            raise ValueError(f"latent_size {config.latent_size} is not a multiple of patch {config.patch}")
        self.config = config
        d, p = config.dim, config.patch
        self.patch_in = nn.Conv2d(config.latent_channels, d, kernel_size=p, stride=p)
        n_patches = (config.latent_size // p) ** 2
        self.space_pos = nn.Parameter(torch.randn(n_patches, d) * 0.02)
        self.time_pos = nn.Parameter(torch.randn(config.clip, d) * 0.02)
        self.obs_in = nn.Linear(config.obs_dim, d)
        self.action_in = nn.Linear(config.action_dim, d)
        self.kind = nn.Parameter(torch.randn(3, d) * 0.02)  # patch, proprio, action token types
        self.summary = nn.Parameter(torch.randn(d) * 0.02)
        self.task_in = nn.Linear(config.task_dim, d) if config.task_dim else None
        layer = nn.TransformerEncoderLayer(
            d,
            config.heads,
            int(d * config.mlp_ratio),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.heads = nn.Linear(d, 3)  # reward (normalised), termination logit, plausibility logit
        for name in ("latent_mean", "obs_mean", "reward_mean"):
            size = {"latent_mean": config.latent_channels, "obs_mean": config.obs_dim, "reward_mean": 1}[name]
            self.register_buffer(name, torch.zeros(size))
            self.register_buffer(name.replace("mean", "std"), torch.ones(size))

    def forward(
        self, latents: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor, task: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """latents (B, T, C, h, w), obs (B, T, D), actions (B, T-1, A): raw values.

        Returns ``reward`` (B,) in the task's units, ``reward_normalized`` (B,), and
        ``terminated`` and ``plausibility`` (B,) logits. Raises ValueError for T other than
        ``clip``, or for a missing task vector when ``task_dim > 0``."""
        b, t = latents.shape[:2]
        if t != self.config.clip:
            raise ValueError(f"expected clips of {self.config.clip} frames, got {t}")
        z = (latents - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]
        o = (obs - self.obs_mean) / self.obs_std
        patches = self.patch_in(z.flatten(0, 1)).flatten(2).transpose(1, 2)  # (B*T, P, D)
        patches = patches.unflatten(0, (b, t)) + self.space_pos + self.time_pos[:, None] + self.kind[0]  # (B, T, P, D)
        proprio = self.obs_in(o) + self.time_pos + self.kind[1]  # (B, T, D)
        acts = self.action_in(actions) + self.time_pos[1:] + self.kind[2]  # (B, T-1, D)
        summary = self.summary.expand(b, 1, -1)  # (B, 1, D)
        if self.task_in is not None:
            if task is None:
                raise ValueError("this model was built with task_dim > 0 and needs a task vector")
            summary = summary + self.task_in(task)[:, None]
        tokens = torch.cat([summary, patches.flatten(1, 2), proprio, acts], 1)  # (B, 1 + T*P + T + T-1, D)
        x = self.norm(self.encoder(tokens))[:, 0]  # (B, D)
        reward, terminated, plausibility = self.heads(x).unbind(-1)  # (B,) each
        return {
            "reward": reward * self.reward_std + self.reward_mean,
            "reward_normalized": reward,
            "terminated": terminated,
            "plausibility": plausibility,
        }

    @torch.no_grad()
    def judge(
        self, latents: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor, task: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Reward (B,), termination probability (B,) and plausibility in [0, 1] (B,)."""
        out = self(latents, obs, actions, task)
        return {
            "reward": out["reward"],
            "terminated": torch.sigmoid(out["terminated"]),
            "plausibility": torch.sigmoid(out["plausibility"]),
        }
