"""Test doubles shipped with the library: a tiny random-weight world model for any task,
so env, adapter and benchmark tests (ours and users') need no trained checkpoint.

    from cosmos_env.testing import tiny_world_model
    model = tiny_world_model("hopper")            # WorldModel with a Reason critic
    model.save_pretrained("/tmp/tiny-hopper")     # a directory gym.make(..., weights=...) takes
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from cosmos_env.tasks import TaskConfig, load_task
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.reason import REASON_SIZES, ReasonConfig, ReasonModel
from worldmodels.tokenizer import TOKENIZER_SIZES, Tokenizer
from worldmodels.transfer import TRANSFER_SIZES, TransferConfig, TransferModel
from worldmodels.world_model import WorldModel


def task_dims(task: TaskConfig) -> tuple[int, int]:
    """(obs_dim, action_dim) of a task's MuJoCo env."""
    from cosmos_env.reference import make_mujoco

    env = make_mujoco(task.gym_id)
    try:
        return int(env.observation_space.shape[0]), int(env.action_space.shape[0])
    finally:
        env.close()


def observation_statistics(task: TaskConfig, steps: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """The start observation (``reset(seed=0)``) and the per-dimension std over ``steps`` of
    uniform random actions (at least 0.01), each (D,) float32: stand-in data statistics."""
    from cosmos_env.reference import make_mujoco

    env = make_mujoco(task.gym_id)
    try:
        start, _ = env.reset(seed=0)
        env.action_space.seed(0)
        seen = [start]
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            seen.append(obs)
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    std = torch.as_tensor(np.stack(seen), dtype=torch.float32).std(0).clamp_min(0.01)
    return torch.as_tensor(start, dtype=torch.float32), std


def tiny_world_model(
    task: str | TaskConfig = "hopper",
    seed: int = 0,
    context: int = 4,
    critic: bool = True,
    randomize: bool = True,
    predict_size: str = "tiny",
    transfer: bool = False,
) -> WorldModel:
    """A world model with the ``tiny`` presets and random weights, shaped for ``task``
    (``predict_size="tiny-v2"``: Predict with the v2 architecture, its band = ``context``;
    ``transfer``: with a tiny Transfer model, for styled observations).

    ``randomize`` replaces the zero-initialised output layers (adaLN-Zero starts every
    block as the identity, so an untrained Predict only repeats its last frame) with small
    random weights, so actions change what is imagined. Its observation statistics are the
    task's start state with a small spread, so imagined observations stay near a healthy
    pose (the task's rules do not end every episode at once)."""
    task = load_task(task) if isinstance(task, str) else task
    obs_dim, action_dim = task_dims(task)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        tokenizer = Tokenizer(dataclasses.replace(TOKENIZER_SIZES["tiny"], resolution=task.height))
        size = tokenizer.config.latent_resolution
        channels = tokenizer.config.latent_channels
        sized = PredictConfig(obs_dim=obs_dim, action_dim=action_dim, **PREDICT_SIZES[predict_size])
        predict = PredictModel(
            dataclasses.replace(
                sized,
                latent_channels=channels,
                latent_size=size,
                max_frames=context + 1,
                band=context if sized.band is not None else None,
            )
        )
        with torch.no_grad():
            mean, std = observation_statistics(task)
            predict.obs_mean.copy_(mean)
            predict.obs_std.copy_(std)
        if randomize:
            for name, p in predict.named_parameters():
                if p.dim() > 1 or "ada" in name or "out" in name:
                    torch.nn.init.normal_(p, std=0.05)
        reason = None
        if critic:
            reason = ReasonModel(
                ReasonConfig(
                    obs_dim=obs_dim,
                    action_dim=action_dim,
                    latent_channels=channels,
                    latent_size=size,
                    clip=min(4, context),
                    **REASON_SIZES["tiny"],
                )
            )
        renderer = None
        if transfer:
            renderer = TransferModel(TransferConfig(resolution=task.height, **TRANSFER_SIZES["tiny"]))
    finally:
        torch.random.set_rng_state(generator_state)
    return WorldModel(tokenizer, predict, context, reason, renderer)
