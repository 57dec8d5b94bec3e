"""Training stages over episode datasets, for :func:`worldmodels.train.train`.

``cosmos-env train stage=tokenizer task=hopper`` then ``stage=predict`` then
``stage=reason``: the tokenizer learns frames <-> latents; Predict learns latent
dynamics on the frozen tokenizer's latents (encoded once per dataset and tokenizer,
cached beside the dataset); Reason learns reward, termination and plausibility on clips of those
latents, against Predict's imagined clips and corrupted ones. ``stage=decoder`` (optional)
then continues the tokenizer's decoder alone on Predict's imagined latents. Held-out episodes (the last
``val_fraction`` of the dataset) are the validation split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cosmos_env.data import EpisodeDataset, WindowDataset
from worldmodels.checkpoint import config_from_dict, config_to_dict, from_pretrained, read_config
from worldmodels.io import atomic_save_safetensors, memmap_safetensors
from worldmodels.losses import decoder_loss, predict_loss, reason_loss, tokenizer_loss
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.reason import REASON_SIZES, ReasonConfig, ReasonModel
from worldmodels.sampler import imagine
from worldmodels.tokenizer import TOKENIZER_SIZES, Tokenizer, TokenizerConfig


def split_episodes(episodes: EpisodeDataset, val_fraction: float) -> tuple[list[int], list[int]]:
    """The last ``val_fraction`` of episodes (at least one) are held out."""
    n = len(episodes)
    n_val = max(1, round(n * val_fraction)) if n > 1 and val_fraction > 0 else 0
    return list(range(n - n_val)), list(range(n - n_val, n))


class TokenizerStage:
    name = "tokenizer"

    def __init__(
        self,
        data: str | Path,
        size: str = "small",
        frames: int = 4,
        val_fraction: float = 0.05,
        config: TokenizerConfig | None = None,
    ) -> None:
        episodes = EpisodeDataset(data)
        config = config or TOKENIZER_SIZES[size]
        task = episodes.meta["task"]
        config = dataclasses.replace(config, resolution=task["height"])
        if task["height"] != task["width"]:
            raise ValueError(f"the tokenizer needs square frames, the dataset has {task['height']}x{task['width']}")
        self.model = Tokenizer(config)
        train_eps, val_eps = split_episodes(episodes, val_fraction)
        fields = ("rgb", "depth", "segmentation")
        self.train_data = WindowDataset(episodes, context=frames, horizon=0, fields=fields, episodes=train_eps)
        self.val_data = WindowDataset(episodes, context=frames, horizon=0, fields=fields, episodes=val_eps)
        self.extra = {"data": str(data), "dataset_id": episodes.meta["dataset_id"], "task": task}

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return tokenizer_loss(net, self.model.config.num_segments, batch["rgb"], batch["depth"], batch["segmentation"])


class DecoderStage:
    """Continue a trained tokenizer's decoder on Predict's imagined latents
    (:func:`worldmodels.losses.decoder_loss`), its encoder frozen: the result is a
    tokenizer whose latents are bit-identical, so the Predict and Reason models trained on
    them go on working, that draws imagined frames closer to MuJoCo's. ``age_buckets`` > 0
    gives the decoder each frame's age (steps since the last real frame,
    :func:`worldmodels.tokenizer.age_bucket`) so it can be sharp one step out and cautious
    many steps out; a decoder trained at one horizon for all ages trades one for the other.
    ``age_only`` trains the age conditioning alone: real latents decode exactly as before."""

    name = "decoder"

    def __init__(
        self,
        data: str | Path,
        tokenizer: str | Path,
        predict: str | Path,
        horizon: int = 4,
        val_fraction: float = 0.05,
        age_buckets: int = 0,
        age_only: bool = False,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon (imagined frames per clip) must be >= 1, got {horizon}")
        episodes = EpisodeDataset(data)
        source = from_pretrained(tokenizer, expected_class="Tokenizer")
        self.model = (source.with_age_buckets(age_buckets) if age_buckets else source).freeze_encoder()
        if age_only:
            self.model.freeze_all_but_age()
        self.predict = from_pretrained(predict, expected_class="PredictModel").eval().requires_grad_(False)
        if self.predict.config.latent_channels != self.model.config.latent_channels:
            raise ValueError(
                f"{predict}: Predict models {self.predict.config.latent_channels} latent channels, "
                f"the tokenizer {tokenizer} makes {self.model.config.latent_channels}"
            )
        self.context = read_config(predict)["extra"].get("context", 4)
        train_eps, val_eps = split_episodes(episodes, val_fraction)
        fields = ("rgb", "depth", "segmentation", "obs", "action")
        common = dict(context=self.context, horizon=horizon, fields=fields)
        self.train_data = WindowDataset(episodes, episodes=train_eps, **common)
        self.val_data = WindowDataset(episodes, episodes=val_eps, **common)
        self.extra = {
            "data": str(data),
            "dataset_id": episodes.meta["dataset_id"],
            "task": episodes.meta["task"],
            "encoder_of": str(tokenizer),
            "decoder_trained_on": str(predict),
            "horizon": horizon,
            "age_buckets": self.model.config.age_buckets,
            "age_only": age_only,
            "tokenizer_record": read_config(tokenizer)["extra"],
        }

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        predict = self.predict.to(batch["rgb"].device)
        return decoder_loss(
            net,
            self.model,
            predict,
            self.context,
            batch["rgb"],
            batch["depth"],
            batch["segmentation"],
            batch["obs"],
            batch["action"],
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
    """Per-episode latents, from ``cache`` if it was made from the same data and tokenizer weights."""
    key = {"dataset_id": episodes.meta["dataset_id"], "tokenizer_sha256": tokenizer_digest(tokenizer_dir)}
    if cache.is_file():
        arrays, meta = memmap_safetensors(cache)
        if all(meta.get(k) == v for k, v in key.items()):
            offsets = arrays["offsets"]
            return [np.asarray(arrays["latents"][a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    tokenizer = from_pretrained(tokenizer_dir, expected_class="Tokenizer")
    latents = encode_episodes(tokenizer, episodes)
    offsets = np.cumsum([0] + [len(z) for z in latents])
    atomic_save_safetensors(cache, {"latents": np.concatenate(latents), "offsets": offsets}, key)
    return latents


def tokenizer_digest(tokenizer_dir: str | Path) -> str:
    """The SHA-256 of a tokenizer's weights: the same weights anywhere give the same latents."""
    return hashlib.sha256((Path(tokenizer_dir) / "model.safetensors").read_bytes()).hexdigest()


def latents_cache(data: str | Path, tokenizer: str | Path, out: str | Path) -> Path:
    """Where a dataset's latents under a tokenizer are cached: beside the dataset
    (``<data>/latents/<digest>.safetensors``), so the Predict and Reason stages of one
    tokenizer encode the dataset once; in the run directory ``out`` if the dataset's
    directory is read-only."""
    folder = Path(data) / "latents"
    if not os.access(Path(data), os.W_OK) and not os.access(folder, os.W_OK):
        return Path(out) / "latents.safetensors"
    return folder / f"{tokenizer_digest(tokenizer)[:16]}.safetensors"


def latent_episodes(
    data: str | Path, tokenizer: str | Path, out: str | Path
) -> tuple[EpisodeDataset, TokenizerConfig, list[np.ndarray], int, int]:
    """What the Predict and Reason stages share: the dataset, the tokenizer's config, the
    per-episode latents (cached in ``out``), and the observation and action sizes."""
    episodes = EpisodeDataset(data)
    tok_config = config_from_dict(TokenizerConfig, read_config(tokenizer)["config"])
    latents = cached_latents(tokenizer, episodes, latents_cache(data, tokenizer, out))
    shard = episodes.shard(0)
    return (
        episodes,
        tok_config,
        latents,
        int(np.asarray(shard["obs"]).shape[1]),
        int(np.asarray(shard["action"]).shape[1]),
    )


class PredictStage:
    name = "predict"

    def __init__(
        self,
        data: str | Path,
        tokenizer: str | Path,
        out: str | Path,
        size: str = "small",
        context: int = 4,
        val_fraction: float = 0.05,
        config: PredictConfig | None = None,
        context_noise: float = 0.3,
        clean_context_fraction: float = 0.5,
        pure_noise_fraction: float = 0.9,
    ) -> None:
        """``pure_noise_fraction``: of target frames, those noised to tau = 1, where
        one-step sampling starts; the rest (tau ~ U(0, 1)) serve multi-step sampling."""
        self.context_noise, self.clean_context_fraction = context_noise, clean_context_fraction
        self.pure_noise_fraction = pure_noise_fraction
        episodes, tok_config, latents, obs_dim, action_dim = latent_episodes(data, tokenizer, out)
        config = config or PredictConfig(obs_dim=obs_dim, action_dim=action_dim, **PREDICT_SIZES[size])
        config = dataclasses.replace(
            config,
            obs_dim=obs_dim,
            action_dim=action_dim,
            max_frames=max(config.max_frames, context + 1),
            latent_channels=tok_config.latent_channels,
            latent_size=tok_config.latent_resolution,
        )
        self.model = PredictModel(config)
        train_eps, val_eps = split_episodes(episodes, val_fraction)
        fit_normalizers(self.model, latents, episodes, train_eps)
        common = dict(
            context=context, horizon=1, fields=("obs", "action"), pad_start=True, extra_frames={"latents": latents}
        )
        self.train_data = WindowDataset(episodes, episodes=train_eps, **common)
        self.val_data = WindowDataset(episodes, episodes=val_eps, **common)
        self.extra: dict[str, Any] = {
            "data": str(data),
            "dataset_id": episodes.meta["dataset_id"],
            "task": episodes.meta["task"],
            "context": context,
            "context_noise": context_noise,
            "tokenizer": str(tokenizer),
            "tokenizer_config": config_to_dict(tok_config),
        }

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return predict_loss(
            net,
            self.model,
            batch["latents"],
            batch["obs"],
            batch["action"],
            batch["valid"],
            context_noise=self.context_noise,
            clean_context_fraction=self.clean_context_fraction,
            pure_noise_fraction=self.pure_noise_fraction,
        )


class ReasonStage:
    name = "reason"

    def __init__(
        self,
        data: str | Path,
        tokenizer: str | Path,
        out: str | Path,
        predict: str | Path | None = None,
        size: str = "small",
        clip: int = 4,
        val_fraction: float = 0.05,
        imagined: int = 2048,
        config: ReasonConfig | None = None,
    ) -> None:
        """``predict``: a trained Predict model whose open-loop futures are negatives for
        the plausibility head (``imagined`` clips of them, made once and cached in
        ``out``); without it only corrupted clips are."""
        episodes, tok_config, latents, obs_dim, action_dim = latent_episodes(data, tokenizer, out)
        config = config or ReasonConfig(obs_dim=obs_dim, action_dim=action_dim, **REASON_SIZES[size])
        config = dataclasses.replace(
            config,
            obs_dim=obs_dim,
            action_dim=action_dim,
            clip=clip,
            latent_channels=tok_config.latent_channels,
            latent_size=tok_config.latent_resolution,
        )
        self.model = ReasonModel(config)
        train_eps, val_eps = split_episodes(episodes, val_fraction)
        fit_normalizers(self.model, latents, episodes, train_eps)
        common = dict(
            context=clip,
            horizon=0,
            fields=("obs", "action", "reward", "terminated"),
            pad_start=True,
            extra_frames={"latents": latents},
        )
        self.train_data = WindowDataset(episodes, episodes=train_eps, **common)
        self.val_data = WindowDataset(episodes, episodes=val_eps, **common)
        self.imagined = None
        if predict is not None:
            self.imagined = cached_imagined_clips(
                predict, self.train_data, imagined, Path(out) / "imagined.safetensors"
            )
        self.extra: dict[str, Any] = {
            "data": str(data),
            "dataset_id": episodes.meta["dataset_id"],
            "task": episodes.meta["task"],
            "clip": clip,
            "tokenizer": str(tokenizer),
            "predict": None if predict is None else str(predict),
        }

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return reason_loss(
            net,
            self.model,
            batch["latents"],
            batch["obs"],
            batch["action"],
            batch["reward"],
            batch["terminated"],
            batch["valid"],
            imagined=self.imagined,
        )


def cached_imagined_clips(
    predict_dir: str | Path, windows: WindowDataset, count: int, cache: Path, chunk: int = 256
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` clips (latents, obs, actions) whose last frames Predict imagined from
    the real frames before them (1 to clip-1 real frames, in turn), spread over
    ``windows``; cached in ``cache`` for this Predict model and dataset."""
    key = {
        "predict": str(Path(predict_dir).resolve()),
        "count": str(count),
        "windows": str(len(windows)),
        "predict_mtime": str((Path(predict_dir) / "model.safetensors").stat().st_mtime_ns),
    }
    if cache.is_file():
        arrays, meta = memmap_safetensors(cache)
        if all(meta.get(k) == v for k, v in key.items()):
            return tuple(torch.from_numpy(np.array(arrays[k])) for k in ("latents", "obs", "action"))
    predict = from_pretrained(predict_dir, expected_class="PredictModel")
    context = read_config(predict_dir)["extra"].get("context", 4)
    picks = torch.linspace(0, len(windows) - 1, min(count, len(windows))).round().long().tolist()
    out: dict[str, list[torch.Tensor]] = {"latents": [], "obs": [], "action": []}
    clip = windows.length
    for n, lo in enumerate(tqdm(range(0, len(picks), chunk), desc="imagine clips", unit="chunk")):
        batch = [windows[i] for i in picks[lo : lo + chunk]]
        z, o, a = (torch.stack([b[k] for b in batch]).float() for k in ("latents", "obs", "action"))
        real = 1 + n % (clip - 1)
        z, o = imagine(predict, z, o, a, real=real, context=context, generator=torch.Generator().manual_seed(n))
        for k, v in zip(out, (z, o, a)):
            out[k].append(v)
    tensors = {k: torch.cat(v) for k, v in out.items()}
    atomic_save_safetensors(cache, {k: v.numpy() for k, v in tensors.items()}, key)
    return tensors["latents"], tensors["obs"], tensors["action"]


SAMPLING_FIELDS = ("rollout_context_noise",)
"""PredictConfig fields that change how a trained Predict is sampled, not its weights."""


def export_world_model(
    tokenizer: str | Path,
    predict: str | Path,
    reason: str | Path | None,
    out: str | Path,
    sampling: dict[str, Any] | None = None,
) -> Path:
    """Put trained stage models together as one world model directory (``tokenizer/``,
    ``predict/``, ``reason/``, each with its training record) that
    ``gym.make("cosmos_env/WorldModel-v0", weights=out)`` and ``WorldModel.from_pretrained``
    take. Checks that the parts fit together first; replaces ``out`` atomically.
    ``sampling``: values of :data:`SAMPLING_FIELDS` written into Predict's config, chosen
    after training (``benchmarks/fidelity.py --seed 20000 ...``); the rest stay as trained."""
    import shutil

    from worldmodels.io import atomic_write_json
    from worldmodels.world_model import WorldModel

    sampling = {k: v for k, v in (sampling or {}).items() if v is not None}
    if set(sampling) - set(SAMPLING_FIELDS):
        raise ValueError(f"sampling sets {sorted(set(sampling) - set(SAMPLING_FIELDS))}; only {SAMPLING_FIELDS} may be")
    paths = {"tokenizer": Path(tokenizer), "predict": Path(predict)} | ({"reason": Path(reason)} if reason else {})
    for stage, path in paths.items():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path}: no trained {stage} model there (train it: cosmos-env train stage={stage})"
            )
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for stage, path in paths.items():  # the weights and config only (a checkpoint also holds optimizer state)
        (tmp / stage).mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copy2(path / name, tmp / stage / name)
    if sampling:
        record = read_config(tmp / "predict")
        record["config"].update(sampling)
        atomic_write_json(tmp / "predict" / "config.json", record)
    WorldModel.from_pretrained(tmp)  # raises, naming the mismatch or bad value, when the parts do not fit
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
