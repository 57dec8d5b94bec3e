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
from dataclasses import dataclass, replace

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
    """Longest window (context + target) the learned time embedding covers."""
    dim: int = 128
    depth: int = 4
    heads: int = 4
    kernel: int = 5
    """Spatial neighbourhood (kernel x kernel tokens) of grid attention."""
    mlp_ratio: float = 4.0
    task_dim: int = 0
    """Length of an optional task vector; 0 = none."""
    rollout_context_noise: float = 0.0
    """Noise level in [0, 1) the sampler gives imagined context frames by default; real
    ones stay clean (:meth:`worldmodels.world_model.WorldModel.step`)."""
    rollout_sampler_steps: int = 1
    """Sampler steps per imagined frame by default (a shortcut model: 1, 2, 4, ... 2^levels)."""
    patch: int = 1
    """Latent positions per side of a grid token (2: 2x2 patches, 4x fewer tokens)."""
    time_embedding: str = "learned"
    """``learned``: a vector per window position (up to ``max_frames``); ``rotary``: rotary
    embedding of time on queries and keys, so attention sees only frame lags and a frame's
    cached keys stay valid as the window slides (:class:`ContextCache`)."""
    band: int | None = None
    """Frames further back than this are not attended to (None: the whole window). A
    :class:`ContextCache` holds ``band`` frames."""
    shortcut_levels: int = 0
    """0: no step-size input. L > 0: a shortcut model, also told the size of the sampler's
    step, 2^l / 2^L for level l = 0..L (level 0: the 2^L-step base; level L: one step)."""

    def __post_init__(self) -> None:
        if self.rollout_sampler_steps < 1:
            raise ValueError(f"rollout_sampler_steps must be >= 1, got {self.rollout_sampler_steps}")
        if not 0 <= self.rollout_context_noise < 1:
            raise ValueError(f"rollout_context_noise must be in [0, 1), got {self.rollout_context_noise}")
        if self.patch < 1 or self.latent_size % self.patch:
            raise ValueError(f"patch {self.patch} must be >= 1 and divide latent_size {self.latent_size}")
        if self.time_embedding not in ("learned", "rotary"):
            raise ValueError(f"time_embedding must be 'learned' or 'rotary', got {self.time_embedding!r}")
        if self.band is not None and self.band < 1:
            raise ValueError(f"band must be >= 1 or None, got {self.band}")
        if self.shortcut_levels < 0:
            raise ValueError(f"shortcut_levels must be >= 0, got {self.shortcut_levels}")
        if (self.dim // self.heads) % 2:
            raise ValueError(f"dim / heads = {self.dim // self.heads} must be even")

    @property
    def grid_size(self) -> int:
        """Grid tokens per side of a frame."""
        return self.latent_size // self.patch

    @property
    def cacheable(self) -> bool:
        """Whether sampling can keep past frames' keys and values (:class:`ContextCache`)."""
        return self.time_embedding == "rotary" and self.band is not None


PREDICT_SIZES = {
    "tiny": dict(dim=32, depth=2, heads=2, kernel=3),
    "small": dict(dim=128, depth=4, heads=4, kernel=5),
    "base": dict(dim=512, depth=12, heads=8, kernel=5),
    # v2: 2x2 patches (16 grid tokens a frame), relative time, a 4-frame band, 8-step shortcut
    "small-v2": dict(dim=128, depth=4, heads=4, kernel=3, patch=2, time_embedding="rotary", band=4, shortcut_levels=3),
    "tiny-v2": dict(dim=32, depth=2, heads=2, kernel=3, patch=2, time_embedding="rotary", band=2, shortcut_levels=2),
}

ROTARY_BASE = 100.0
"""Rotary wavelengths span 2 pi .. 2 pi x ROTARY_BASE frames: windows are a few frames long."""


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of noise levels in [0, 1]: (...) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    args = t[..., None].float() * 1000 * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rotary_table(frames: int, head_dim: int, device: torch.device, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of frame positions start..start+frames-1, each (frames, head_dim / 2)."""
    half = head_dim // 2
    freqs = ROTARY_BASE ** (-torch.arange(half, device=device) / half)  # (half,)
    angles = torch.arange(start, start + frames, device=device)[:, None].float() * freqs  # (frames, half)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of time: x (B, T, ..., n, d) by its frame's cos/sin (T, d/2)."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 3) + (-1,)
    cos, sin = cos.view(shape).to(x.dtype), sin.view(shape).to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def shift_positions(keys: torch.Tensor, frames: int) -> torch.Tensor:
    """Rotary-embedded keys (..., d) moved ``frames`` positions back in time (all alike)."""
    cos, sin = rotary_table(1, keys.shape[-1], keys.device, start=-frames)  # (1, d/2)
    x1, x2 = keys.chunk(2, dim=-1)
    cos, sin = cos[0].to(keys.dtype), sin[0].to(keys.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


@dataclass(frozen=True)
class ContextCache:
    """Keys and values of the frames before a window, per block (as a causal transformer
    keeps them), so a sampling step computes only the new frame's tokens.

    Keys are stored rotary-embedded at their position relative to the frame that follows
    the cache (the newest at -1, the one before at -2, ...): a step embeds only its new
    frame (at 0), and appending frames moves the older keys back once (:meth:`then`), since
    attention depends only on lags. Tokens per frame P = grid tokens + 1 proprio token."""

    keys: torch.Tensor
    """(depth, B, F, P, heads, head_dim), rotary-embedded (above)."""
    values: torch.Tensor
    """(depth, B, F, P, heads, head_dim)."""
    last_latent: torch.Tensor
    """(B, C, h, w): the newest frame's (normalised, c_skip-weighted) input, the frame the
    next one's estimate is a change from."""
    last_obs: torch.Tensor
    """(B, D): likewise for the observation."""
    present: torch.Tensor | None = None
    """(B, F) bool: which frames are there; a row restarted with fewer frames than the
    others is padded in front with absent ones, which attention skips. None: all are."""
    scratch: tuple[torch.Tensor, torch.Tensor] | None = None
    """Keys and values (depth, B, F + room, P, heads, head_dim) whose first F frames are
    :attr:`keys` and :attr:`values` (the same memory): a window of up to ``room`` frames
    after the cache writes its own there, in place, rather than every block of every pass
    copying the cache into a new tensor. Inference only; None: no room (see :meth:`then`)."""

    @property
    def frames(self) -> int:
        return self.keys.shape[2]

    def _with(self, keys, values, last_latent, last_obs, present) -> ContextCache:
        if present is not None and bool(present.all()):
            present = None
        return ContextCache(keys, values, last_latent, last_obs, present)

    def then(self, newer: ContextCache, keep: int, room: int = 0) -> ContextCache:
        """This cache followed by ``newer``'s frames, only the last ``keep`` frames kept, with
        :attr:`scratch` room for a window of ``room`` frames after them (0: none)."""
        drop = max(0, self.frames + newer.frames - keep)  # only frames that stay are moved
        old = self.frames - drop
        present = None
        if self.present is not None or newer.present is not None:
            present = torch.cat([self.presence()[:, drop:], newer.presence()], 1)
        if room == 0 or newer.frames > keep:
            keys = torch.cat([shift_positions(self.keys[:, :, drop:], newer.frames), newer.keys], 2)
            values = torch.cat([self.values[:, :, drop:], newer.values], 2)
            return self._with(keys, values, newer.last_latent, newer.last_obs, present).last(keep)
        frames = old + newer.frames
        shape = (*self.keys.shape[:2], frames + room, *self.keys.shape[3:])
        keys, values = self.keys.new_empty(shape), self.values.new_empty(shape)
        keys[:, :, :old] = shift_positions(self.keys[:, :, drop:], newer.frames)
        keys[:, :, old:frames] = newer.keys
        values[:, :, :old], values[:, :, old:frames] = self.values[:, :, drop:], newer.values
        cache = self._with(keys[:, :, :frames], values[:, :, :frames], newer.last_latent, newer.last_obs, present)
        return replace(cache, scratch=(keys, values))

    def presence(self) -> torch.Tensor:
        """(B, F) bool: :attr:`present`, all True where it is None."""
        if self.present is not None:
            return self.present
        return torch.ones(self.keys.shape[1:3], dtype=torch.bool, device=self.keys.device)

    def last(self, keep: int) -> ContextCache:
        """Only the newest ``keep`` frames."""
        present = None if self.present is None else self.present[:, -keep:]
        return self._with(self.keys[:, :, -keep:], self.values[:, :, -keep:], self.last_latent, self.last_obs, present)

    def select(self, index: torch.Tensor) -> ContextCache:
        present = None if self.present is None else self.present[index]
        return self._with(
            self.keys[:, index], self.values[:, index], self.last_latent[index], self.last_obs[index], present
        )

    def repeat(self, k: int) -> ContextCache:
        """Each row K times in a row (B*K, ...)."""
        return ContextCache(
            self.keys.repeat_interleave(k, 1),
            self.values.repeat_interleave(k, 1),
            self.last_latent.repeat_interleave(k, 0),
            self.last_obs.repeat_interleave(k, 0),
            None if self.present is None else self.present.repeat_interleave(k, 0),
        )

    def assign(self, index: torch.Tensor, other: ContextCache) -> ContextCache:
        """This cache with rows ``index`` replaced by ``other``'s (envs starting over), the
        others kept; ``other`` may hold fewer frames (padded in front with absent ones).
        Raises ValueError if it holds more."""
        pad = self.frames - other.frames
        if pad < 0:
            raise ValueError(f"cannot put a cache of {other.frames} frames into one of {self.frames}")
        keys, values, present = self.keys.clone(), self.values.clone(), self.presence().clone()
        keys[:, index], values[:, index] = (
            F.pad(other.keys, (0,) * 6 + (pad, 0)),
            F.pad(other.values, (0,) * 6 + (pad, 0)),
        )
        present[index] = F.pad(other.presence(), (pad, 0), value=False)
        last_latent, last_obs = self.last_latent.clone(), self.last_obs.clone()
        last_latent[index], last_obs[index] = other.last_latent, other.last_obs
        return self._with(keys, values, last_latent, last_obs, present)


LayerPast = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor] | None]
"""One block's part of a :class:`ContextCache`: rotary-embedded keys and values (B, F, P, n, d)
of earlier frames, at positions before the window's; which of them are there (B, F) or None;
and its :attr:`~ContextCache.scratch` (B, F + room, P, n, d) keys and values, or None."""


class Block(nn.Module):
    """adaLN-Zero transformer block over each frame's grid and proprio tokens."""

    def __init__(self, config: PredictConfig) -> None:
        super().__init__()
        d, self.heads = config.dim, config.heads
        self.kernel, self.band, self.grid = config.kernel, config.band, (config.grid_size, config.grid_size)
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

    def forward(
        self,
        tokens: torch.Tensor,
        cond: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        past: LayerPast | None = None,
        queries_from: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, T, P, D): each frame's grid tokens (row-major), then its proprio token;
        cond (B, T, D); ``rotary``: cos, sin (T, d/2) of these frames' positions; ``past``:
        this block's part of a :class:`ContextCache` of earlier frames (:data:`LayerPast`);
        ``queries_from``: the frames before it give keys and values only (a last block's
        cache-only frames). Returns the tokens of frames ``queries_from``.. (B, T', P, D) and
        this window's keys (rotary-embedded) and values (B, T, P, n, d)."""
        ada = self.ada(cond)[:, :, None]  # (B, T, 1, 6D): one modulation per frame
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = ada.chunk(6, dim=-1)  # (B, T, 1, D) each
        qkv = self.qkv(modulate(self.norm1(tokens), shift_msa, scale_msa))  # (B, T, P, 3D)
        q, k, v = qkv.unflatten(-1, (3, self.heads, -1)).unbind(-3)  # (B, T, P, n, d) each
        q, k = self.q_norm(q[:, queries_from:]), self.k_norm(k)  # q: (B, T', P, n, d)
        if rotary is not None:
            q, k = rotate(q, *(r[queries_from:] for r in rotary)), rotate(k, *rotary)
        tokens, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
            x[:, queries_from:] for x in (tokens, gate_msa, shift_mlp, scale_mlp, gate_mlp)
        )  # (B, T', ...)
        all_keys, all_values, present = k, v, None
        if past is not None:
            past_keys, past_values, past_present, scratch = past
            f, t = past_keys.shape[1], k.shape[1]
            if scratch is not None and scratch[0].shape[1] >= f + t:  # written after the cache, in place
                all_keys, all_values = scratch[0][:, : f + t], scratch[1][:, : f + t]  # (B, F+T, P, n, d)
                all_keys[:, f:], all_values[:, f:] = k, v
            else:
                all_keys, all_values = torch.cat([past_keys, k], 1), torch.cat([past_values, v], 1)
            if past_present is not None:
                present = F.pad(past_present, (0, t), value=True)  # (B, F+T)
        out = space_time_attention(q, all_keys, all_values, self.grid, self.kernel, band=self.band, present=present)
        tokens = tokens + gate_msa * self.proj(out.flatten(-2))  # (B, T', P, D)
        tokens = tokens + gate_mlp * self.mlp(modulate(self.norm2(tokens), shift_mlp, scale_mlp))
        return tokens, k, v


class PredictModel(nn.Module):
    def __init__(self, config: PredictConfig) -> None:
        super().__init__()
        self.config = config
        d, s, p = config.dim, config.grid_size, config.patch
        self.latent_in = nn.Linear(config.latent_channels * p * p, d)
        self.obs_in = nn.Linear(config.obs_dim, d)
        self.space_pos = nn.Parameter(torch.zeros(s, s, d))
        nn.init.normal_(self.space_pos, std=0.02)
        if config.time_embedding == "learned":
            self.time_pos = nn.Parameter(torch.zeros(config.max_frames, d))
            nn.init.normal_(self.time_pos, std=0.02)
        self.proprio_type = nn.Parameter(torch.zeros(d))
        self.noise_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.action_mlp = nn.Sequential(nn.Linear(config.action_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.task_mlp = nn.Linear(config.task_dim, d) if config.task_dim else None
        if config.shortcut_levels:
            self.step_embedding = nn.Embedding(config.shortcut_levels + 1, d)
            nn.init.zeros_(self.step_embedding.weight)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.latent_out = nn.Linear(d, config.latent_channels * p * p)
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
        step_levels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate the clean frames of a noisy window (all values normalised).

        latents (B, T, C, h, w), obs (B, T, D): noisy frames; actions (B, T-1, A): the
        action between consecutive frames; noise_levels (B, T) in [0, 1] of each frame
        (latents and observation alike); task (B, task_dim); step_levels (B, T) int64, a
        shortcut model's step-size level per frame (None: 0, the base step).
        Returns clean-frame estimates of latents and obs, same shapes. Raises ValueError
        for T > ``max_frames`` with a learned time embedding, or for a missing task vector
        when ``task_dim > 0``.
        """
        z, o, _ = self._run(latents, obs, F.pad(actions, (0, 0, 1, 0)), noise_levels, task, step_levels, None, 0)
        return z, o

    def forward_cached(
        self,
        latents: torch.Tensor,
        obs: torch.Tensor,
        actions: torch.Tensor,
        noise_levels: torch.Tensor,
        past: ContextCache | None = None,
        task: torch.Tensor | None = None,
        step_levels: torch.Tensor | None = None,
        cache_frames: int | None = None,
        outputs_from: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor, ContextCache]:
        """:meth:`forward` for frames that follow the ``past`` cache's (a rotary model with a
        band only): actions (B, T, A) are the actions into each of the T frames (the first
        from the cache's newest frame); with no ``past``, actions (B, T-1, A) as in
        :meth:`forward`. Also returns the keys and values of this window's first
        ``cache_frames`` frames (None: all T) as a cache to extend ``past`` with
        (:meth:`ContextCache.then`). ``outputs_from``: estimates only for frames
        ``outputs_from``.. (T' of them; the earlier ones are for the cache, and the last block
        skips their attention output and MLP). Raises ValueError for a model that cannot cache
        (:attr:`PredictConfig.cacheable`), or unless 0 <= ``outputs_from`` < T."""
        if not self.config.cacheable:
            raise ValueError("a context cache needs time_embedding='rotary' and a band")
        actions_in = F.pad(actions, (0, 0, 1, 0)) if past is None else actions
        n = latents.shape[1] if cache_frames is None else cache_frames
        if not 0 <= outputs_from < latents.shape[1]:
            raise ValueError(f"outputs_from must be in [0, {latents.shape[1]}), got {outputs_from}")
        return self._run(latents, obs, actions_in, noise_levels, task, step_levels, past, n, outputs_from)

    def _run(self, latents, obs, actions_in, noise_levels, task, step_levels, past, cache_frames, outputs_from=0):
        b, t = latents.shape[:2]
        cfg, p, s = self.config, self.config.patch, self.config.grid_size
        if cfg.time_embedding == "learned" and t > cfg.max_frames:
            raise ValueError(f"window of {t} frames exceeds max_frames={cfg.max_frames}")
        c_in, c_skip, c_out = preconditioning(noise_levels)  # (B, T) each
        patches = patchify(latents * c_in[..., None, None, None], p)  # (B, T, s, s, C*p*p)
        grid = self.latent_in(patches) + self.space_pos  # (B, T, s, s, D)
        proprio = (self.obs_in(obs * c_in[..., None]) + self.proprio_type)[:, :, None]  # (B, T, 1, D)
        rotary = None
        if cfg.time_embedding == "learned":
            grid = grid + self.time_pos[:t, None, None]
            proprio = proprio + self.time_pos[:t, None]
        else:  # these frames at 0..T-1; a cache's frames before them (ContextCache)
            rotary = rotary_table(t, cfg.dim // cfg.heads, latents.device)

        shared = self.action_mlp(actions_in)  # (B, T, D)
        if self.task_mlp is not None:
            if task is None:
                raise ValueError("this model was built with task_dim > 0 and needs a task vector")
            shared = shared + self.task_mlp(task)[:, None]
        cond = shared + self.noise_mlp(timestep_embedding(noise_levels, cfg.dim))  # (B, T, D)
        if cfg.shortcut_levels:
            levels = torch.zeros(b, t, dtype=torch.long, device=latents.device) if step_levels is None else step_levels
            cond = cond + self.step_embedding(levels)

        tokens = torch.cat([grid.flatten(2, 3), proprio], 2)  # (B, T, P, D), P = s*s + 1
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            layer_past = None
            if past is not None:
                scratch = None if past.scratch is None else (past.scratch[0][i], past.scratch[1][i])
                layer_past = (past.keys[i], past.values[i], past.present, scratch)
            last = i == len(self.blocks) - 1
            tokens, k, v = block(tokens, cond, rotary, layer_past, outputs_from if last else 0)
            keys.append(k)
            values.append(v)
        m = outputs_from  # the frames with outputs: m.. (T' = T - m)
        shift, scale = self.final_ada(cond[:, m:])[:, :, None].chunk(2, dim=-1)  # (B, T', 1, D) each
        tokens = modulate(self.final_norm(tokens), shift, scale)  # (B, T', P, D)
        latents_out = unpatchify(self.latent_out(tokens[:, :, :-1].unflatten(2, (s, s))), p)  # (B, T', C, h, w)
        obs_out = self.obs_out(tokens[:, :, -1])  # (B, T', D)
        # the network's output is a change from the previous frame's estimate
        z_in, o_in = c_skip[..., None, None, None] * latents, c_skip[..., None] * obs  # (B, T, ...)
        first_z = past.last_latent if past is not None else torch.zeros_like(latents[:, 0])
        first_o = past.last_obs if past is not None else torch.zeros_like(obs[:, 0])
        z_prev = torch.cat([first_z[:, None], z_in[:, :-1]], 1)  # (B, T, C, h, w)
        o_prev = torch.cat([first_o[:, None], o_in[:, :-1]], 1)  # (B, T, D)
        cache, n = None, cache_frames
        if n:  # the first n frames' keys, moved to their positions before the frame after them
            keys, values = torch.stack(keys)[:, :, :n], torch.stack(values)[:, :, :n]  # (depth, B, n, P, heads, d)
            cache = ContextCache(shift_positions(keys, n), values, z_in[:, n - 1], o_in[:, n - 1])
        z_in, o_in, z_prev, o_prev, c_out = (x[:, m:] for x in (z_in, o_in, z_prev, o_prev, c_out))  # (B, T', ...)
        return (
            z_in + c_out[..., None, None, None] * (z_prev + latents_out),
            o_in + c_out[..., None] * (o_prev + obs_out),
            cache,
        )


def patchify(z: torch.Tensor, p: int) -> torch.Tensor:
    """(B, T, C, h, w) -> (B, T, h/p, w/p, C*p*p) tokens."""
    b, t, c, h, w = z.shape
    z = z.reshape(b, t, c, h // p, p, w // p, p)
    return z.permute(0, 1, 3, 5, 2, 4, 6).reshape(b, t, h // p, w // p, c * p * p)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, T, s, s, C*p*p) -> (B, T, C, s*p, s*p)."""
    b, t, s1, s2, cpp = x.shape
    c = cpp // (p * p)
    x = x.reshape(b, t, s1, s2, c, p, p)
    return x.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, t, c, s1 * p, s2 * p)


def previous_frame(x: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) -> the frame before each, zeros before the first."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)


def preconditioning(tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EDM-style (c_in, c_skip, c_out), each shaped like ``tau``, for x_tau = (1 - tau) x0 +
    tau eps: the input scale, and the weights of x_tau and of the network's output in x0."""
    var = (1 - tau) ** 2 + tau**2
    return var.rsqrt(), (1 - tau) / var, tau * var.rsqrt()
