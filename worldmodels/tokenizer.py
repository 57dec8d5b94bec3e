"""A causal video tokenizer: frames <-> small latent grids.

Per-frame 2-D convolutions (64x64 -> 8x8, three stride-2 stages), then a causal 3-D
convolution along time: a latent frame sees its own and earlier input frames, never later
ones. The decoder mirrors it with three heads: RGB, inverse depth, segmentation logits.
With ``age_buckets`` the decoder is conditioned on each latent's age (steps since the last
real, encoded frame). Latents are continuous, or FSQ-quantised (Mentzer et al. 2023) with
``fsq_levels``, straight-through gradient.

Shapes: frames ``(B, T, 3, H, W)`` in [0, 1]; latents ``(B, T, C, H/8, W/8)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TokenizerConfig:
    resolution: int = 64
    channels: tuple[int, ...] = (16, 32, 64)
    """Width of each encoder stage; one stride-2 downsample per stage (3 stages: 8x)."""
    latent_channels: int = 8
    num_segments: int = 16
    """Segmentation classes decoded (ids >= this are folded into the last class)."""
    fsq_levels: tuple[int, ...] | None = None
    """Levels per latent channel for FSQ codes, e.g. (8, 8, 8, 5, 5, 5); None = continuous."""
    age_buckets: int = 0
    """Decoder conditioning on latent age (:func:`age_bucket`): 0 = none; n = buckets for
    ages 0, 1, 2-3, 4-7, ..., the last holding every older age. Age 0 (a real latent) is
    never modulated."""
    decoder_channels: tuple[int, ...] | None = None
    """Width of each decoder stage, as many as ``channels`` (None: the same as the encoder's).
    A narrower decoder draws frames for fewer FLOPs."""

    def __post_init__(self) -> None:
        if self.decoder_channels is not None and len(self.decoder_channels) != len(self.channels):
            raise ValueError(
                f"decoder_channels {self.decoder_channels} must have one width per encoder stage {self.channels}"
            )
        if self.fsq_levels is not None and len(self.fsq_levels) != self.latent_channels:
            raise ValueError(
                f"fsq_levels has {len(self.fsq_levels)} entries but latent_channels is {self.latent_channels}"
            )
        if self.age_buckets < 0:
            raise ValueError(f"age_buckets must be >= 0, got {self.age_buckets}")
        if self.resolution % 2 ** len(self.channels):
            raise ValueError(f"resolution {self.resolution} is not divisible by {2 ** len(self.channels)}")

    @property
    def latent_resolution(self) -> int:
        return self.resolution // 2 ** len(self.channels)


TOKENIZER_SIZES = {
    "tiny": TokenizerConfig(channels=(8, 16, 16), latent_channels=4),
    "small": TokenizerConfig(channels=(16, 32, 64), latent_channels=8),
    "base": TokenizerConfig(channels=(64, 128, 256), latent_channels=16),
}


DECODER_HEADS = ("rgb", "inverse_depth", "segmentation")
ENCODER_PARTS = ("encoder", "encoder_time", "to_latent")
"""The modules that make latents (frozen when a decoder is trained on them)."""


def age_bucket(age: torch.Tensor, buckets: int) -> torch.Tensor:
    """Steps since the last real frame (integers >= 0) -> bucket 0 (real), 1 (one step),
    then one bucket per doubling (2-3, 4-7, ...), capped at ``buckets - 1``."""
    log2 = torch.floor(torch.log2(age.clamp_min(1).float())).long() + 1  # 1 -> 1, 2..3 -> 2, 4..7 -> 3
    return torch.where(age > 0, log2, 0).clamp_max(buckets - 1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) stored channels-last: the layout oneDNN's CPU convolutions run in, so
    they skip reordering every input and output (the decoder ~1.4x faster; same values to
    float rounding)."""
    return x.contiguous(memory_format=torch.channels_last)


def _film(x: torch.Tensor, scale_shift: torch.Tensor) -> torch.Tensor:
    """x (N, c, H, W) scaled by 1 + scale and shifted, scale_shift (N, 2c)."""
    scale, shift = scale_shift.chunk(2, -1)
    return x * (1 + scale[..., None, None]) + shift[..., None, None]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.block = nn.Sequential(
            _norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class CausalTimeMix(nn.Module):
    """Residual 3-D convolution over (time, h, w), padded only on the past side of time."""

    def __init__(self, channels: int, time_kernel: int = 2) -> None:
        super().__init__()
        self.time_kernel = time_kernel
        self.norm = _norm(channels)
        self.conv = nn.Conv3d(channels, channels, (time_kernel, 3, 3), padding=(0, 1, 1))
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor, batch: int, last: int | None = None) -> torch.Tensor:
        """(B*T, C, h, w) -> (B*T', C, h, w): all T frames, or only the ``last`` T' of them."""
        bt, c, h, w = x.shape  # (B*T, C, h, w)
        t = bt // batch
        kept = t if last is None else min(last, t)
        y = F.silu(self.norm(x)).view(batch, t, c, h, w).transpose(1, 2)  # (B, C, T, h, w)
        y = F.pad(y, (0, 0, 0, 0, self.time_kernel - 1, 0), mode="replicate")  # past-side pad
        y = y[:, :, t - kept :]  # (B, C, T'+k-1, h, w): what the kept outputs see
        y = self.conv(y).transpose(1, 2).reshape(batch * kept, c, h, w)  # (B*T', C, h, w)
        return x.view(batch, t, c, h, w)[:, t - kept :].reshape(batch * kept, c, h, w) + y


class FSQ(nn.Module):
    """Finite scalar quantisation: channel c is squashed to (0, levels[c] - 1), rounded to
    an integer digit (straight-through gradient) and mapped to ``levels[c]`` evenly spaced
    values in [-1, 1]. A latent position's code is its digits in mixed radix."""

    def __init__(self, levels: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]], dtype=torch.long), 0)
        self.register_buffer("basis", basis, persistent=False)

    def _top(self, z: torch.Tensor) -> torch.Tensor:
        return (self.levels - 1).view(1, 1, -1, 1, 1).to(z.dtype)  # (1, 1, C, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, C, h, w) -> quantised values in [-1, 1]."""
        top = self._top(z)
        digits = (torch.tanh(z) + 1) / 2 * top
        digits = digits + (digits.round() - digits).detach()  # straight-through round
        return digits / top * 2 - 1

    def codes(self, quantised: torch.Tensor) -> torch.Tensor:
        """Quantised values -> one integer code per latent position, (B, T, h, w)."""
        digits = ((quantised + 1) / 2 * self._top(quantised)).round().long()
        return (digits * self.basis.view(1, 1, -1, 1, 1)).sum(2)


class Tokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        enc: list[nn.Module] = [nn.Conv2d(3, c[0], 3, padding=1)]
        for i, width in enumerate(c):
            enc += [ResBlock(width), nn.Conv2d(width, c[min(i + 1, len(c) - 1)], 4, stride=2, padding=1)]
        self.encoder = nn.Sequential(*enc)
        self.encoder_time = CausalTimeMix(c[-1])
        self.to_latent = nn.Sequential(_norm(c[-1]), nn.SiLU(), nn.Conv2d(c[-1], config.latent_channels, 1))
        self.quantiser = FSQ(config.fsq_levels) if config.fsq_levels else None

        c = config.decoder_channels or config.channels
        self.from_latent = nn.Conv2d(config.latent_channels, c[-1], 3, padding=1)
        self.decoder_time = CausalTimeMix(c[-1])
        dec: list[nn.Module] = []
        for i in reversed(range(len(c))):
            dec += [
                ResBlock(c[min(i + 1, len(c) - 1)]),
                nn.ConvTranspose2d(c[min(i + 1, len(c) - 1)], c[i], 4, stride=2, padding=1),
            ]
        dec += [ResBlock(c[0]), _norm(c[0]), nn.SiLU()]
        self.decoder = nn.Sequential(*dec)
        self.age_film = None
        if config.age_buckets:  # per age bucket, a scale and shift of the latent features and of each block's output
            widths = [c[-1]] + [m.channels for m in self.decoder if isinstance(m, ResBlock)]
            # bucket 0 (a real latent) is the decoder itself: its row stays zero (padding_idx)
            self.age_film = nn.ModuleList(nn.Embedding(config.age_buckets, 2 * w, padding_idx=0) for w in widths)
            for film in self.age_film:
                nn.init.zeros_(film.weight)  # starts as the unconditioned decoder
        self.rgb_head = nn.Conv2d(c[0], 3, 3, padding=1)
        self.depth_head = nn.Conv2d(c[0], 1, 3, padding=1)
        self.segmentation_head = nn.Conv2d(c[0], config.num_segments, 3, padding=1)

    @property
    def temporal_receptive_field(self) -> int:
        """Input frames a latent frame depends on (itself and the ones before)."""
        return self.encoder_time.time_kernel

    @property
    def decoder_receptive_field(self) -> int:
        """Latent frames a decoded frame depends on (its own and the ones before)."""
        return self.decoder_time.time_kernel

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) in [0, 1] -> latents (B, T, C, h, w)."""
        b, t = frames.shape[:2]
        x = self.encoder(channels_last(frames.flatten(0, 1) * 2 - 1))  # (B*T, c, h, w)
        x = self.to_latent(self.encoder_time(x, b))  # (B*T, C, h, w)
        z = x.view(b, t, *x.shape[1:])  # (B, T, C, h, w)
        return self.quantiser(z) if self.quantiser is not None else z

    def decode(
        self,
        latents: torch.Tensor,
        age: torch.Tensor | None = None,
        last: int | None = None,
        heads: tuple[str, ...] = DECODER_HEADS,
    ) -> dict[str, torch.Tensor]:
        """Latents (B, T, C, h, w) -> ``rgb`` (B, T, 3, H, W) in [0, 1], ``inverse_depth``
        (B, T, H, W) in [0, 1] (1 / metres, clipped), ``segmentation`` logits (B, T, S, H, W).
        ``age`` (B, T) integers: each latent's steps since the last real frame (None: all
        real); a decoder without ``age_buckets`` ignores it, otherwise a shape other than
        (B, T) raises ValueError. ``last``: draw only the last frames (the earlier ones still
        reach them through the causal time mix), T' = last; ``heads``: which outputs to draw."""
        b, t = latents.shape[:2]
        kept = t if last is None else min(last, t)
        x = channels_last(self.decoder_time(self.from_latent(latents.flatten(0, 1)), b, last=kept))  # (B*T', c, h, w)
        if self.age_film is None:
            x = self.decoder(x)  # (B*T', c0, H, W)
        else:
            age = torch.zeros(b, t, dtype=torch.long, device=x.device) if age is None else age
            if age.shape != (b, t):
                raise ValueError(f"age must be (B, T) = {(b, t)}, got {tuple(age.shape)}")
            bucket = age_bucket(age[:, t - kept :].to(x.device), self.config.age_buckets).flatten()  # (B*T',)
            films = iter(self.age_film)
            x = _film(x, next(films)(bucket))
            for layer in self.decoder:
                x = layer(x)
                if isinstance(layer, ResBlock):
                    x = _film(x, next(films)(bucket))  # (B*T', c_i, H_i, W_i)
        unflat = lambda y: y.view(b, kept, *y.shape[1:])  # noqa: E731
        out = {}
        if "rgb" in heads:
            out["rgb"] = unflat(torch.sigmoid(self.rgb_head(x)))
        if "inverse_depth" in heads:
            out["inverse_depth"] = unflat(torch.sigmoid(self.depth_head(x)).squeeze(1))
        if "segmentation" in heads:
            out["segmentation"] = unflat(self.segmentation_head(x))
        return out

    def forward(
        self, frames: torch.Tensor | None = None, latents: torch.Tensor | None = None, age: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Encode ``frames`` and decode them, or decode ``latents`` of the given ``age``.

        Raises ValueError unless exactly one of ``frames`` and ``latents`` is given."""
        if (frames is None) == (latents is None):
            raise ValueError("pass frames or latents, not both or neither")
        latents = self.encode(frames) if latents is None else latents
        return latents, self.decode(latents, age)

    def with_age_buckets(self, buckets: int) -> Tokenizer:
        """This tokenizer with an age-conditioned decoder of ``buckets`` buckets: same weights,
        zero (no-op) conditioning. Raises ValueError if it already has other age buckets."""
        if buckets == self.config.age_buckets:
            return self
        if self.config.age_buckets:
            raise ValueError(f"the decoder already has {self.config.age_buckets} age buckets, asked for {buckets}")
        out, missing = self._rebuilt(lambda name: True, age_buckets=buckets)
        assert all(k.startswith("age_film.") for k in missing), missing
        return out

    def without_age(self) -> Tokenizer:
        """This tokenizer with its decoder's age conditioning removed: every latent decoded
        as a real one (age 0 decodes exactly as before). For a Predict whose imagined latents
        are sharper than those the age conditioning was trained on."""
        if not self.config.age_buckets:
            return self
        out, missing = self._rebuilt(lambda name: not name.startswith("age_film."), age_buckets=0)
        assert not missing, missing
        return out

    def freeze_all_but_age(self) -> Tokenizer:
        """Train only the age conditioning (age 0 decodes exactly as before); in place.

        Raises ValueError if the decoder has no age conditioning."""
        if self.age_film is None:
            raise ValueError("this decoder has no age conditioning (age_buckets = 0)")
        self.requires_grad_(False)
        self.age_film.requires_grad_(True)
        return self

    def with_decoder(self, channels: tuple[int, ...]) -> Tokenizer:
        """This tokenizer's encoder with a new, untrained decoder of these stage widths and no
        age conditioning (add it with :meth:`with_age_buckets`). Raises ValueError for a
        wrong stage count."""
        out, missing = self._rebuilt(
            lambda name: name.split(".")[0] in ENCODER_PARTS, decoder_channels=tuple(channels), age_buckets=0
        )
        assert not any(k.split(".")[0] in ENCODER_PARTS for k in missing), missing
        return out

    def _rebuilt(self, keep: Callable[[str], bool], **changes: Any) -> tuple[Tokenizer, list[str]]:
        """A tokenizer of this config with ``changes`` holding this one's weights whose names
        ``keep`` accepts, and the names of the weights it did not get."""
        out = Tokenizer(replace(self.config, **changes)).to(next(self.parameters()).device)
        state = {k: v for k, v in self.state_dict().items() if keep(k)}
        missing, unexpected = out.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        return out, missing

    def freeze_encoder(self) -> Tokenizer:
        """Freeze the encoder (in place), so its latents and models trained on them stay valid."""
        for name in ENCODER_PARTS:
            getattr(self, name).requires_grad_(False)
        return self


def depth_to_inverse(depth: torch.Tensor) -> torch.Tensor:
    """Metres -> the decoder's target: 1 / depth, clipped to [0, 1] (nearer than 1 m is 1)."""
    return (1.0 / depth.clamp_min(1e-3)).clamp(0, 1)


def inverse_to_depth(inverse_depth: torch.Tensor, far: float = 100.0) -> torch.Tensor:
    """The decoder's inverse depth -> metres, at most ``far``."""
    return 1.0 / inverse_depth.clamp_min(1.0 / far)
