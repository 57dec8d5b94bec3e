"""The policy training stages for :func:`worldmodels.train.train`: behaviour cloning and
inverse dynamics on an episode dataset (``cosmos-env train stage=bc|idm``), built like
the world-model stages of :mod:`cosmos_env.training`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cosmos_env.data import EpisodeDataset
from cosmos_env.reference import MujocoReference
from cosmos_env.tasks import load_task
from cosmos_env.training import VAL_FRACTION, Loss, dataset_record, split_episodes, split_windows
from policies.bc import BC_SIZES, BCConfig, BCModel, bc_loss
from policies.idm import IDM_SIZES, IDMConfig, IDMModel, idm_loss
from worldmodels.checkpoint import from_pretrained
from worldmodels.stages import BCStageConfig, IDMStageConfig


class BCStage:
    """Behaviour cloning on a dataset's actions (:mod:`policies.bc`): windows of ``frames``
    rows, the action at the last one the target; with ``transfer``, each clip's frames
    re-drawn in a random train-range style by a Transfer model."""

    name = "bc"

    def __init__(
        self, config: BCStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes = EpisodeDataset(data)
        dims, obs = policy_dims(episodes, split_episodes(episodes, val_fraction)[0])
        pixels = config.obs in ("pixels", "both")
        model_config = BCConfig(
            **dims,
            pixels=pixels,
            frames=config.frames if pixels else 1,
            resolution=episodes.meta["task"]["height"],
            with_state=config.obs == "both",
            **BC_SIZES[config.size],
        )
        self.config = config
        self.model = BCModel(model_config)
        fit_obs_normaliser(self.model.norm, obs)
        self.transfer = None
        fields = ("obs", "action") + (("rgb",) if pixels else ())
        if config.transfer is not None:
            self.transfer = from_pretrained(config.transfer, expected_class="TransferModel").requires_grad_(False)
            fields += ("depth", "segmentation")
        self.train_data, self.val_data = split_windows(
            episodes, val_fraction, context=model_config.frames, horizon=1, fields=fields, pad_start=True
        )
        self.extra = {**dataset_record(data, episodes), "transfer": config.transfer}

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        rgb = batch.get("rgb")
        if self.transfer is not None:
            rgb = self._restyled(batch)
        return bc_loss(net, self.model, batch["obs"], batch["action"], rgb)

    @torch.no_grad()
    def _restyled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each clip's frames drawn by Transfer in one random train-range style, (B, L, H, W, 3)."""
        from cosmos_env.styles import random_style
        from worldmodels.controls import CONTROLS

        b, length = batch["rgb"].shape[:2]
        seeds = torch.randint(0, 2**31 - 1, (b,)).tolist()  # from torch's seeded generator: runs repeat
        styles = torch.from_numpy(np.stack([random_style(np.random.default_rng(s)) for s in seeds])).float()
        transfer = self.transfer.to(batch["rgb"].device)
        out = transfer.render(
            batch["rgb"].flatten(0, 1),
            batch["depth"].flatten(0, 1).float(),
            batch["segmentation"].flatten(0, 1),
            styles.repeat_interleave(length, 0).to(batch["rgb"].device),
            {m: 1.0 for m in CONTROLS},
        )
        return out.view(b, length, *out.shape[1:])


def policy_dims(episodes: EpisodeDataset, train_episodes: list[int]) -> tuple[dict[str, Any], np.ndarray]:
    """What a learned policy's config takes from its dataset (obs_dim, action_dim,
    action bounds) and the training episodes' observations (R, D)."""
    with MujocoReference(load_task(episodes.meta["task"]["name"])) as ref:
        space = ref.action_space
    obs = np.concatenate([np.asarray(episodes.episode(i, ("obs",))["obs"]) for i in train_episodes])
    dims = {
        "obs_dim": obs.shape[1],
        "action_dim": space.shape[0],
        "action_low": tuple(float(x) for x in space.low),
        "action_high": tuple(float(x) for x in space.high),
    }
    return dims, obs


def fit_obs_normaliser(norm: torch.nn.Module, obs: np.ndarray) -> None:
    """A policy's observation mean and std (floored at 1e-3) from training observations."""
    with torch.no_grad():
        norm.obs_mean.copy_(torch.from_numpy(obs.mean(0)))
        norm.obs_std.copy_(torch.from_numpy(obs.std(0)).clamp_min(1e-3))


class IDMStage:
    """An inverse dynamics model on a dataset's consecutive rows (:mod:`policies.idm`)."""

    name = "idm"

    def __init__(
        self, config: IDMStageConfig, data: str | Path, out: str | Path, val_fraction: float = VAL_FRACTION
    ) -> None:
        episodes = EpisodeDataset(data)
        dims, obs = policy_dims(episodes, split_episodes(episodes, val_fraction)[0])
        pixels = config.obs in ("pixels", "both")
        model_config = IDMConfig(
            **dims,
            pixels=pixels,
            with_state=config.obs == "both",
            resolution=episodes.meta["task"]["height"],
            **IDM_SIZES[config.size],
        )
        self.config = config
        self.model = IDMModel(model_config)
        fit_obs_normaliser(self.model.norm, obs)
        fields = ("obs", "action") + (("rgb",) if pixels else ())
        self.train_data, self.val_data = split_windows(episodes, val_fraction, context=1, horizon=1, fields=fields)
        self.extra = dataset_record(data, episodes)

    def loss(self, net: Callable, batch: dict[str, torch.Tensor]) -> Loss:
        return idm_loss(net, self.model, batch["obs"], batch["action"], batch.get("rgb"))


POLICY_STAGES: dict[type, type] = {BCStageConfig: BCStage, IDMStageConfig: IDMStage}
"""Stage settings type -> the policy stage it builds (beside :data:`cosmos_env.training.STAGES`)."""
