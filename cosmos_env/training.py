"""Training stages over episode datasets, for :func:`worldmodels.train.train`.

``cosmos-env train stage=tokenizer task=hopper`` then ``stage=predict`` then
``stage=reason`` (optionally ``stage=decoder``). Each stage is built from its settings
(:mod:`worldmodels.stages`), a dataset and a run directory; it brings the model, the
train and validation windows (the last ``val_fraction`` of episodes held out) and the
loss. Predict and Reason train on the tokenizer's latents, encoded once per dataset and
tokenizer weights and cached beside the dataset (:mod:`cosmos_env.cache`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cosmos_env.cache import cached_arrays, latents_cache
from cosmos_env.data import EpisodeDataset, WindowDataset
from worldmodels.checkpoint import config_from_dict, config_to_dict, from_pretrained, read_config
from worldmodels.discriminator import DISCRIMINATOR_SIZES, PatchDiscriminator
from worldmodels.io import file_sha256, memmap_safetensors
from worldmodels.losses import (
    ImaginedClips,
    decoder_loss,
    predict_loss,
    probe_loss,
    reason_loss,
    tokenizer_loss,
    transfer_loss,
)
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.probe import PoseProbe, PoseProbeConfig
from worldmodels.reason import REASON_SIZES, ReasonConfig, ReasonModel
from worldmodels.rollout import imagine_clips
from worldmodels.stages import (
    DecoderStageConfig,
    PredictStageConfig,
    ProbeStageConfig,
    ReasonStageConfig,
    TokenizerStageConfig,
    TransferStageConfig,
)
from worldmodels.tokenizer import TOKENIZER_SIZES, Tokenizer, TokenizerConfig
from worldmodels.transfer import TRANSFER_SIZES, TransferConfig, TransferModel

VAL_FRACTION = 0.05
"""Default share of episodes held out for validation (the last ones)."""

Loss = tuple[torch.Tensor, dict[str, float]]


def split_episodes(episodes: EpisodeDataset, val_fraction: float) -> tuple[list[int], list[int]]:
    """The last ``val_fraction`` of episodes (at least one) are held out."""
    n = len(episodes)
    n_val = max(1, round(n * val_fraction)) if n > 1 and val_fraction > 0 else 0
    return list(range(n - n_val)), list(range(n - n_val, n))


def split_windows(episodes: EpisodeDataset, val_fraction: float, **windows: Any) -> tuple[WindowDataset, WindowDataset]:
    """Train and validation :class:`WindowDataset` s of the same windows over the split."""
    train_eps, val_eps = split_episodes(episodes, val_fraction)
    return WindowDataset(episodes, episodes=train_eps, **windows), WindowDataset(episodes, episodes=val_eps, **windows)


def dataset_record(data: str | Path, episodes: EpisodeDataset) -> dict[str, Any]:
    """What every stage records about its data in the model's config.json."""
    return {"data": str(data), "dataset_id": episodes.meta["dataset_id"], "task": episodes.meta["task"]}


class TokenizerStage:
    name = "tokenizer"

    def __init__(
        self, config: TokenizerStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes = EpisodeDataset(data)
        task = episodes.meta["task"]
        if task["height"] != task["width"]:
            raise ValueError(f"the tokenizer needs square frames, the dataset has {task['height']}x{task['width']}")
        self.config = config
        self.model = Tokenizer(dataclasses.replace(TOKENIZER_SIZES[config.size], resolution=task["height"]))
        self.train_data, self.val_data = split_windows(
            episodes, val_fraction, context=config.frames, horizon=0, fields=("rgb", "depth", "segmentation")
        )
        self.extra = dataset_record(data, episodes)

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        num_segments = self.model.config.num_segments
        return tokenizer_loss(net, num_segments, batch["rgb"], batch["depth"], batch["segmentation"], self.config.loss)


class DecoderStage:
    """A trained tokenizer's decoder continued, or a new one (``decoder_channels``) trained,
    on Predict's imagined latents (or, with no ``predict``, on real clips' latents alone),
    its encoder frozen: the latents stay bit-identical, so the Predict and Reason models
    trained on them go on working (:func:`worldmodels.losses.decoder_loss`)."""

    name = "decoder"

    def __init__(
        self, config: DecoderStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes = EpisodeDataset(data)
        source = from_pretrained(config.tokenizer, expected_class="Tokenizer")
        if config.decoder_channels:  # a new decoder: age-conditioned only if asked to be, below
            source = source.with_decoder(config.decoder_channels)
        # a continued, already age-conditioned decoder keeps its buckets when age_buckets is 0
        self.model = (source.with_age_buckets(config.age_buckets) if config.age_buckets else source).freeze_encoder()
        if config.age_only:
            self.model.freeze_all_but_age()
        self.predict, self.context, horizon = None, config.frames, 0
        if config.predict is not None:
            self.predict = from_pretrained(config.predict, expected_class="PredictModel").eval().requires_grad_(False)
            if self.predict.config.latent_channels != self.model.config.latent_channels:
                raise ValueError(
                    f"{config.predict}: Predict models {self.predict.config.latent_channels} latent channels, "
                    f"the tokenizer {config.tokenizer} makes {self.model.config.latent_channels}"
                )
            self.context, horizon = read_config(config.predict)["extra"].get("context", 4), config.horizon
        self.adversary = None
        if config.adversarial > 0:
            if config.discriminator not in DISCRIMINATOR_SIZES:
                raise ValueError(
                    f"unknown discriminator size {config.discriminator!r}; choose from {sorted(DISCRIMINATOR_SIZES)}"
                )
            self.adversary = PatchDiscriminator(DISCRIMINATOR_SIZES[config.discriminator])
        self.config = config
        fields = ("rgb", "depth", "segmentation", "obs", "action")
        self.train_data, self.val_data = split_windows(
            episodes, val_fraction, context=self.context, horizon=horizon, fields=fields
        )
        self.extra = {
            **dataset_record(data, episodes),
            "encoder_of": str(config.tokenizer),
            "decoder_trained_on": str(config.predict) if config.predict else "real latents",
            "horizon": horizon,
            "age_buckets": self.model.config.age_buckets,
            "age_only": config.age_only,
            "decoder_channels": list(self.model.config.decoder_channels or self.model.config.channels),
            "new_decoder": bool(config.decoder_channels),
            "adversarial": config.adversarial,
            "tokenizer_record": read_config(config.tokenizer)["extra"],
        }

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        predict = None if self.predict is None else self.predict.to(batch["rgb"].device)
        frames = (batch[k] for k in ("rgb", "depth", "segmentation", "obs", "action"))
        return decoder_loss(
            net, self.model, predict, self.context, *frames, self.config.loss, self.adversary, self.config.adversarial
        )


@torch.no_grad()
def encode_episodes(
    tokenizer: Tokenizer,
    episodes: EpisodeDataset,
    chunk: int = 256,
    progress: bool = True,
    only: list[int] | None = None,
) -> list[np.ndarray | None]:
    """Latents (rows, C, h, w) float32 of every episode (or those in ``only``; the others
    are None), encoded causally in chunks that overlap by the tokenizer's temporal
    receptive field (so chunking changes nothing)."""
    overlap = tokenizer.temporal_receptive_field - 1
    device = next(tokenizer.parameters()).device
    out: list[np.ndarray | None] = [None] * len(episodes)
    chosen = range(len(episodes)) if only is None else only
    for i in tqdm(chosen, desc="encode latents", unit="episode", disable=not progress):
        rgb = episodes.episode(i, ("rgb",))["rgb"]
        pieces = []
        for start in range(0, len(rgb), chunk):
            lo = max(0, start - overlap)
            frames = torch.from_numpy(rgb[lo : start + chunk]).to(device).permute(0, 3, 1, 2)[None].float() / 255
            pieces.append(tokenizer.encode(frames)[0, start - lo :].cpu().numpy())
        out[i] = np.concatenate(pieces)
    return out


def fit_normalizers(
    model: PredictModel | ReasonModel, latents: list[np.ndarray], episodes: EpisodeDataset, train_eps: list[int]
) -> None:
    """Set a model's ``latent_*``, ``obs_*`` (and ``reward_*`` where it has them)
    normalisation buffers from the training episodes."""
    z = torch.from_numpy(np.concatenate([latents[i] for i in train_eps]))  # (N, C, h, w)
    fields = ("obs", "reward")
    rows = [episodes.episode(i, fields) for i in train_eps]
    obs = torch.from_numpy(np.concatenate([r["obs"] for r in rows]))
    model.latent_mean.copy_(z.mean((0, 2, 3)))
    model.latent_std.copy_(z.std((0, 2, 3)).clamp_min(1e-3))
    model.obs_mean.copy_(obs.mean(0))
    model.obs_std.copy_(obs.std(0).clamp_min(1e-3))
    if hasattr(model, "reward_mean"):
        reward = torch.from_numpy(np.concatenate([r["reward"][:-1] for r in rows]))  # the last row has no step
        model.reward_mean.fill_(float(reward.mean()))
        model.reward_std.fill_(float(reward.std().clamp_min(1e-3)))


def cached_latents(tokenizer_dir: str | Path, episodes: EpisodeDataset, cache: Path) -> list[np.ndarray]:
    """Per-episode latents (rows, C, h, w), from ``cache`` if it was made from the same
    data and tokenizer weights. A dataset extended since (``collect`` with more steps adds
    episodes at the end) has only its new episodes encoded."""
    key = {
        "dataset_id": episodes.meta["dataset_id"],
        "tokenizer_sha256": file_sha256(Path(tokenizer_dir) / "model.safetensors"),
        "episodes": str(len(episodes)),
    }

    def encode() -> dict[str, np.ndarray]:
        known = _cached_prefix(cache, key, len(episodes))
        tokenizer = from_pretrained(tokenizer_dir, expected_class="Tokenizer")
        latents = encode_episodes(tokenizer, episodes, only=list(range(len(known), len(episodes))))
        latents[: len(known)] = known
        return {"latents": np.concatenate(latents), "offsets": np.cumsum([0] + [len(z) for z in latents])}

    arrays = cached_arrays(cache, key, encode)
    offsets = arrays["offsets"]
    return [np.asarray(arrays["latents"][a:b]) for a, b in zip(offsets[:-1], offsets[1:])]


def _cached_prefix(cache: Path, key: dict[str, str], episodes: int) -> list[np.ndarray]:
    """The latents of the first episodes from a cache of the same data and tokenizer made
    when the dataset held at most ``episodes`` episodes; [] when there is none."""
    if not cache.is_file():
        return []
    arrays, meta = memmap_safetensors(cache)
    same = all(meta.get(k) == key[k] for k in ("dataset_id", "tokenizer_sha256"))
    offsets = arrays["offsets"]
    if not same or len(offsets) - 1 > episodes:
        return []
    return [np.array(arrays["latents"][a:b]) for a, b in zip(offsets[:-1], offsets[1:])]


def latent_episodes(
    data: str | Path, tokenizer: str | Path, out: str | Path
) -> tuple[EpisodeDataset, TokenizerConfig, list[np.ndarray], int, int]:
    """What the Predict and Reason stages share: the dataset, the tokenizer's config, the
    per-episode latents (cached, see :func:`cosmos_env.cache.latents_cache`), and the
    observation and action sizes."""
    episodes = EpisodeDataset(data)
    tok_config = config_from_dict(TokenizerConfig, read_config(tokenizer)["config"])
    latents = cached_latents(tokenizer, episodes, latents_cache(data, tokenizer, out))
    shard = episodes.shard(0)
    obs_dim, action_dim = int(np.asarray(shard["obs"]).shape[1]), int(np.asarray(shard["action"]).shape[1])
    return episodes, tok_config, latents, obs_dim, action_dim


class PredictStage:
    name = "predict"

    def __init__(
        self,
        config: PredictStageConfig,
        data: str | Path,
        out: str | Path,
        val_fraction: float = VAL_FRACTION,
        model: PredictModel | None = None,
    ) -> None:
        """``model``: a trained Predict to fine-tune (its architecture, weights and
        normalisers; ``config.size`` is then unused); None: a new one."""
        episodes, tok_config, latents, obs_dim, action_dim = latent_episodes(data, config.tokenizer, out)
        self.config = config
        if model is None:
            sized = PredictConfig(obs_dim=obs_dim, action_dim=action_dim, **PREDICT_SIZES[config.size])
            model_config = dataclasses.replace(
                sized,
                max_frames=max(sized.max_frames, config.context + config.horizon),
                latent_channels=tok_config.latent_channels,
                latent_size=tok_config.latent_resolution,
                band=config.context if sized.band is not None else None,  # what the context cache will hold
            )
            model = PredictModel(model_config)
            fit_normalizers(model, latents, episodes, split_episodes(episodes, val_fraction)[0])
        elif model.config.max_frames < config.context + config.horizon:
            raise ValueError(
                f"the Predict to fine-tune holds {model.config.max_frames} frames, "
                f"context + horizon is {config.context + config.horizon}"
            )
        self.model = model
        windows = dict(
            context=config.context,
            horizon=config.horizon,
            fields=("obs", "action"),
            pad_start=True,
            extra_frames={"latents": latents},
        )
        self.train_data, self.val_data = split_windows(episodes, val_fraction, **windows)
        if config.curation is not None:  # train on the curated windows; validate on all, to compare
            from cosmos_env.curate import kept_rows

            train_episodes = split_episodes(episodes, val_fraction)[0]
            keep = kept_rows(config.curation, episodes)
            self.train_data = WindowDataset(episodes, episodes=train_episodes, keep=keep, **windows)
        self.extra: dict[str, Any] = {
            **dataset_record(data, episodes),
            "context": config.context,
            "context_noise": config.context_noise,
            "curation": config.curation,
            "stage_config": config_to_dict(config),
            "tokenizer": str(config.tokenizer),
            "tokenizer_config": config_to_dict(tok_config),
        }

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        windows = (batch[k] for k in ("latents", "obs", "action", "valid"))
        return predict_loss(net, self.model, *windows, self.config)


class ReasonStage:
    name = "reason"

    def __init__(
        self, config: ReasonStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes, tok_config, latents, obs_dim, action_dim = latent_episodes(data, config.tokenizer, out)
        model_config = dataclasses.replace(
            ReasonConfig(obs_dim=obs_dim, action_dim=action_dim, **REASON_SIZES[config.size]),
            clip=config.clip,
            latent_channels=tok_config.latent_channels,
            latent_size=tok_config.latent_resolution,
        )
        self.config = config
        self.model = ReasonModel(model_config)
        fit_normalizers(self.model, latents, episodes, split_episodes(episodes, val_fraction)[0])
        self.train_data, self.val_data = split_windows(
            episodes,
            val_fraction,
            context=config.clip,
            horizon=0,
            fields=("obs", "action", "reward", "terminated"),
            pad_start=True,
            extra_frames={"latents": latents},
        )
        self.imagined_clips = None
        if config.predict is not None:
            cache = Path(out) / "imagined.safetensors"
            self.imagined_clips = cached_imagined_clips(config.predict, self.train_data, config.imagined_clips, cache)
        self.extra: dict[str, Any] = {
            **dataset_record(data, episodes),
            "clip": config.clip,
            "tokenizer": str(config.tokenizer),
            "predict": None if config.predict is None else str(config.predict),
        }

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        windows = (batch[k] for k in ("latents", "obs", "action", "reward", "terminated", "valid"))
        return reason_loss(net, self.model, *windows, self.config, imagined=self.imagined_clips)


def cached_imagined_clips(
    predict_dir: str | Path, windows: WindowDataset, count: int, cache: Path, chunk: int = 256
) -> ImaginedClips:
    """``count`` clips whose last frames Predict imagined from the real frames before them
    (1 to clip-1 real frames, in turn) under the real actions, spread over ``windows``,
    with the real windows' reward, termination and validity labels; cached in ``cache``
    for this Predict model and dataset."""
    key = {
        "predict": str(Path(predict_dir).resolve()),
        "count": str(count),
        "windows": str(len(windows)),
        "predict_mtime": str((Path(predict_dir) / "model.safetensors").stat().st_mtime_ns),
        "labels": "reward,terminated,valid",
    }
    fields = ("latents", "obs", "action", "reward", "terminated", "valid")

    def imagine() -> dict[str, np.ndarray]:
        predict = from_pretrained(predict_dir, expected_class="PredictModel")
        context = read_config(predict_dir)["extra"].get("context", 4)
        picks = torch.linspace(0, len(windows) - 1, min(count, len(windows))).round().long().tolist()
        out: dict[str, list[torch.Tensor]] = {k: [] for k in fields}
        for n, lo in enumerate(tqdm(range(0, len(picks), chunk), desc="imagine clips", unit="chunk")):
            rows = [windows[i] for i in picks[lo : lo + chunk]]
            batch = {k: torch.stack([row[k] for row in rows]) for k in fields}
            z, o, a = (batch[k].float() for k in ("latents", "obs", "action"))
            real = 1 + n % (windows.length - 1)
            gen = torch.Generator().manual_seed(n)
            batch["latents"], batch["obs"] = imagine_clips(predict, z, o, a, real=real, context=context, generator=gen)
            batch["action"] = a
            for k in fields:
                out[k].append(batch[k])
        return {k: torch.cat(v).numpy() for k, v in out.items()}

    arrays = cached_arrays(cache, key, imagine)
    z, o, a, reward, terminated, valid = (torch.from_numpy(np.array(arrays[k])) for k in fields)
    return ImaginedClips(z, o, a, reward, terminated.bool(), valid.bool())


class ProbeStage:
    """A pose probe on real frames (:mod:`worldmodels.probe`), its observation statistics
    from the training episodes."""

    name = "probe"

    def __init__(
        self, config: ProbeStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes = EpisodeDataset(data)
        task = episodes.meta["task"]
        train_eps = split_episodes(episodes, val_fraction)[0]
        obs = np.concatenate([np.asarray(episodes.episode(i, ("obs",))["obs"]) for i in train_eps])
        self.config = config
        self.model = PoseProbe(PoseProbeConfig(obs_dim=obs.shape[1], resolution=task["height"]))
        with torch.no_grad():
            self.model.obs_mean.copy_(torch.from_numpy(obs.mean(0)))
            self.model.obs_std.copy_(torch.from_numpy(obs.std(0)).clamp_min(1e-3))
        self.train_data, self.val_data = split_windows(
            episodes, val_fraction, context=2, horizon=0, fields=("rgb", "obs")
        )
        self.extra = dataset_record(data, episodes)

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        return probe_loss(net, self.model, batch["rgb"], batch["obs"])


class TransferStage:
    """Transfer on a dataset collected with ``styles=random`` (:mod:`worldmodels.transfer`):
    control maps of the canonical frames -> the styled frames; style vectors normalised by
    the training episodes' spread."""

    name = "transfer"

    def __init__(
        self, config: TransferStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes = EpisodeDataset(data)
        if episodes.meta.get("styles") is None:
            raise ValueError(f"{data} has no styled frames: collect it with styles=random")
        task = episodes.meta["task"]
        train_eps = split_episodes(episodes, val_fraction)[0]
        styles = np.stack([np.asarray(episodes.rows(i, 0, 1, ("style",))["style"][0]) for i in train_eps])
        self.config = config
        sized = TransferConfig(**TRANSFER_SIZES[config.size])
        self.model = TransferModel(dataclasses.replace(sized, resolution=task["height"]))
        with torch.no_grad():
            self.model.style_mean.copy_(torch.from_numpy(styles.mean(0)))
            self.model.style_std.copy_(torch.from_numpy(styles.std(0)).clamp_min(1e-3))
        fields = ("rgb", "depth", "segmentation", "styled_rgb", "style")
        self.train_data, self.val_data = split_windows(episodes, val_fraction, context=2, horizon=0, fields=fields)
        self.extra = dataset_record(data, episodes)

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        frames = (batch[k] for k in ("rgb", "depth", "segmentation", "styled_rgb", "style"))
        return transfer_loss(net, self.model, *frames, self.config)


STAGES: dict[type, type] = {
    TokenizerStageConfig: TokenizerStage,
    PredictStageConfig: PredictStage,
    ReasonStageConfig: ReasonStage,
    DecoderStageConfig: DecoderStage,
    ProbeStageConfig: ProbeStage,
    TransferStageConfig: TransferStage,
}
"""Stage settings type -> the stage it builds: ``STAGES[type(config)](config, data, out)``
(the policy stages, BC and IDM, are in :data:`policies.stages.POLICY_STAGES`)."""
