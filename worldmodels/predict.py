"""Predict: an action-conditioned diffusion transformer over latent frames.

A window of T frames, each an h x w grid of tokenizer latents plus one proprio token (the
task's observation vector), goes in with a noise level per frame; the network returns its
estimate of every clean frame (x0), as a change from the previous frame. Causal in time
(:mod:`worldmodels.attention`): frame t is predicted only from frames <= t. The action
into frame t and the frame's noise level condition it through adaLN-Zero (as in DiT).
Each frame has its own noise level (diffusion forcing). Sampling lives in
:mod:`worldmodels.sampler`, losses in :mod:`worldmodels.losses`.

Values inside the network are normalised by the dataset statistics in the model's buffers
(``normalize_*`` / ``denormalize_*``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldmodels.attention import space_time_attention


@dataclass(frozen=True)
class PredictConfig:
    obs_dim: int
    action_dim: int
    latent_channels: int = 8
    latent_size: int = 8
    max_frames: int = 8
    """Longest window (context + target) the time embedding covers."""
    dim: int = 128
    depth: int = 4
    heads: int = 4
    kernel: int = 5
    """Spatial neighbourhood (kernel x kernel latent positions) of grid attention."""
    mlp_ratio: float = 4.0
    task_dim: int = 0
    """Length of an optional task vector; 0 = none."""
    rollout_context_noise: float = 0.0
    """Noise level in [0, 1) the sampler gives imagined context frames by default; real
    ones stay clean (:meth:`worldmodels.world_model.WorldModel.step`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.rollout_context_noise < 1:
            raise ValueError(f"rollout_context_noise must be in [0, 1), got {self.rollout_context_noise}")


PREDICT_SIZES = {
    "tiny": dict(dim=32, depth=2, heads=2, kernel=3),
    "small": dict(dim=128, depth=4, heads=4, kernel=5),
    "base": dict(dim=512, depth=12, heads=8, kernel=5),
}


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of noise levels in [0, 1]: (...) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    args = t[..., None].float() * 1000 * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Block(nn.Module):
    """adaLN-Zero transformer block over grid + proprio tokens."""

    def __init__(self, config: PredictConfig) -> None:
        super().__init__()
        d, self.heads = config.dim, config.heads
        self.kernel = config.kernel
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm = nn.RMSNorm(d // config.heads)
        self.k_norm = nn.RMSNorm(d // config.heads)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * config.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def _qkv(self, x: torch.Tensor) -> list[torch.Tensor]:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(-3)  # (..., n, d) each
        return [self.q_norm(q), self.k_norm(k), v]

    def forward(self, grid: torch.Tensor, glob: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # grid (B, T, H, W, D), glob (B, T, G, D), cond (B, T, D)
        mods = self.ada(cond).chunk(6, dim=-1)  # 6 x (B, T, D)
        as_grid = [m[:, :, None, None] for m in mods]  # (B, T, 1, 1, D)
        as_glob = [m[:, :, None] for m in mods]  # (B, T, 1, D)
        gq, gk, gv = self._qkv(modulate(self.norm1(grid), as_grid[0], as_grid[1]))  # (B, T, H, W, n, d)
        pq, pk, pv = self._qkv(modulate(self.norm1(glob), as_glob[0], as_glob[1]))  # (B, T, G, n, d)
        grid_att, glob_att = space_time_attention(gq, gk, gv, pq, pk, pv, kernel=self.kernel)
        grid = grid + as_grid[2] * self.proj(grid_att.flatten(-2))  # (B, T, H, W, D)
        glob = glob + as_glob[2] * self.proj(glob_att.flatten(-2))  # (B, T, G, D)
        grid = grid + as_grid[5] * self.mlp(modulate(self.norm2(grid), as_grid[3], as_grid[4]))
        glob = glob + as_glob[5] * self.mlp(modulate(self.norm2(glob), as_glob[3], as_glob[4]))
        return grid, glob


class PredictModel(nn.Module):
    def __init__(self, config: PredictConfig) -> None:
        super().__init__()
        self.config = config
        d, s = config.dim, config.latent_size
        self.latent_in = nn.Linear(config.latent_channels, d)
        self.obs_in = nn.Linear(config.obs_dim, d)
        self.space_pos = nn.Parameter(torch.zeros(s, s, d))
        self.time_pos = nn.Parameter(torch.zeros(config.max_frames, d))
        self.proprio_type = nn.Parameter(torch.zeros(d))
        nn.init.normal_(self.space_pos, std=0.02)
        nn.init.normal_(self.time_pos, std=0.02)
        self.noise_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.action_mlp = nn.Sequential(nn.Linear(config.action_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.task_mlp = nn.Linear(config.task_dim, d) if config.task_dim else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.latent_out = nn.Linear(d, config.latent_channels)
        self.obs_out = nn.Linear(d, config.obs_dim)
        for layer in (self.final_ada[-1], self.latent_out, self.obs_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        # dataset statistics, set before training (see losses.fit_normalizers)
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))
        self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
        self.register_buffer("obs_std", torch.ones(config.obs_dim))

    # -- normalisation -----------------------------------------------------------------
    def normalize_latents(self, z: torch.Tensor) -> torch.Tensor:  # (..., C, h, w)
        return (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def denormalize_latents(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std[:, None, None] + self.latent_mean[:, None, None]

    def normalize_obs(self, obs: torch.Tensor) -> torch.Tensor:  # (..., D)
        return (obs - self.obs_mean) / self.obs_std

    def denormalize_obs(self, obs: torch.Tensor) -> torch.Tensor:
        return obs * self.obs_std + self.obs_mean

    # -- network -----------------------------------------------------------------------
    def forward(
        self,
        latents: torch.Tensor,
        obs: torch.Tensor,
        actions: torch.Tensor,
        noise_levels: torch.Tensor,
        task: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate the clean frames of a noisy window (all values normalised).

        latents (B, T, C, h, w), obs (B, T, D): noisy frames; actions (B, T-1, A): the
        action between consecutive frames; noise_levels (B, T) in [0, 1] of each frame
        (latents and observation alike); task (B, task_dim).
        Returns clean-frame estimates of latents and obs, same shapes. Raises ValueError
        for T > ``max_frames``, or for a missing task vector when ``task_dim > 0``.
        """
        b, t = latents.shape[:2]
        if t > self.config.max_frames:
            raise ValueError(f"window of {t} frames exceeds max_frames={self.config.max_frames}")
        c_in, c_skip, c_out = preconditioning(noise_levels)  # (B, T) each
        grid = self.latent_in((latents * c_in[..., None, None, None]).permute(0, 1, 3, 4, 2))  # (B, T, h, w, D)
        grid = grid + self.space_pos + self.time_pos[:t, None, None]
        glob = (self.obs_in(obs * c_in[..., None]) + self.proprio_type + self.time_pos[:t])[:, :, None]  # (B, T, 1, D)

        actions_in = F.pad(actions, (0, 0, 1, 0))  # (B, T, A): none into frame 0
        shared = self.action_mlp(actions_in)  # (B, T, D)
        if self.task_mlp is not None:
            if task is None:
                raise ValueError("this model was built with task_dim > 0 and needs a task vector")
            shared = shared + self.task_mlp(task)[:, None]
        cond = shared + self.noise_mlp(timestep_embedding(noise_levels, self.config.dim))  # (B, T, D)

        for block in self.blocks:
            grid, glob = block(grid, glob, cond)
        shift, scale = self.final_ada(cond).chunk(2, dim=-1)  # (B, T, D) each
        grid = modulate(self.final_norm(grid), shift[:, :, None, None], scale[:, :, None, None])
        glob = modulate(self.final_norm(glob), shift[:, :, None], scale[:, :, None])
        latents_out = self.latent_out(grid).permute(0, 1, 4, 2, 3)  # (B, T, C, h, w)
        obs_out = self.obs_out(glob[:, :, 0])  # (B, T, D)
        # the network's output is a change from the previous frame's estimate
        z_prev = previous_frame(c_skip[..., None, None, None] * latents)  # (B, T, C, h, w)
        o_prev = previous_frame(c_skip[..., None] * obs)  # (B, T, D)
        return (
            c_skip[..., None, None, None] * latents + c_out[..., None, None, None] * (z_prev + latents_out),
            c_skip[..., None] * obs + c_out[..., None] * (o_prev + obs_out),
        )


def previous_frame(x: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) -> the frame before each, zeros before the first."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)


def preconditioning(tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EDM-style (c_in, c_skip, c_out), each shaped like ``tau``, for x_tau = (1 - tau) x0 +
    tau eps: the input scale, and the weights of x_tau and of the network's output in x0."""
    var = (1 - tau) ** 2 + tau**2
    return var.rsqrt(), (1 - tau) / var, tau * var.rsqrt()
