"""Shared by the env and adapter tests: tiny random world models saved once per session."""

import gymnasium as gym

from cosmos_env.testing import tiny_world_model

TASK_OF = {
    "cosmos_env/Hopper-v0": "hopper",
    "cosmos_env/Hopper-v1": "hopper",
    "cosmos_env/HalfCheetah-v0": "halfcheetah",
    "cosmos_env/WorldModel-v0": "hopper",
}


def save_tiny_weights(root, predict_size="tiny"):
    for task in ("hopper", "halfcheetah"):
        model = tiny_world_model(task, predict_size=predict_size)
        model.reason.heads.bias.data[1] = -50.0  # never terminates: episodes run to the time limit
        model.save_pretrained(root / task, extra={"task": {"name": task}})
    return root


def make(env_id, weights, **kwargs):
    """gym.make of a registered id on the tiny model of its task."""
    return gym.make(env_id, weights=weights / TASK_OF[env_id], **kwargs)
