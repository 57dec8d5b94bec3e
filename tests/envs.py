"""Shared by the env and adapter tests: tiny random world models saved once per session."""

import gymnasium as gym

from cosmos_env import SHIPPED_ENVS
from cosmos_env.testing import tiny_world_model


def task_of(env_id: str) -> str:
    """The task whose tiny model stands in for a registered id (the generic id: hopper)."""
    return SHIPPED_ENVS[env_id][0] if env_id in SHIPPED_ENVS else "hopper"


def save_tiny_weights(root, predict_size="tiny"):
    for task in ("hopper", "halfcheetah"):
        model = tiny_world_model(task, predict_size=predict_size)
        model.reason.heads.bias.data[1] = -50.0  # never terminates: episodes run to the time limit
        model.save_pretrained(root / task, extra={"task": {"name": task}})
    return root


def make(env_id, weights, **kwargs):
    """gym.make of a registered id on the tiny model of its task."""
    return gym.make(env_id, weights=weights / task_of(env_id), **kwargs)
