"""cosmos-env: learned video world models as Gymnasium environments.

``import cosmos_env`` registers ``cosmos_env/<Task>-v<N>`` for the shipped world models
(Hopper, HalfCheetah; see :mod:`cosmos_env.shipped`) and ``cosmos_env/WorldModel-v0`` for any world model directory
(``gym.make("cosmos_env/WorldModel-v0", weights=DIR)``), each with a ``vector_entry_point``
for ``gym.make_vec(..., vectorization_mode="vector_entry_point")``.
"""

import os

# headless MuJoCo rendering; must be set before the first `import mujoco` in the process
os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos_env.tasks import TaskConfig, UnknownTaskError, known_tasks, load_task

__version__ = "0.2.0"

__all__ = ["TaskConfig", "UnknownTaskError", "known_tasks", "load_task", "register_envs", "ENV_IDS", "__version__"]


def _shipped_envs() -> dict[str, tuple[str, str]]:
    from cosmos_env.shipped import env_id, shipped_models

    return {env_id(task, version): (task, name) for name, (task, version) in shipped_models().items()}


SHIPPED_ENVS = _shipped_envs()
"""Env id -> (task, weights folder) of every shipped world model."""
GENERIC_ENV = "cosmos_env/WorldModel-v0"
ENV_IDS = (*SHIPPED_ENVS, GENERIC_ENV)


def register_envs() -> None:
    """Register the env ids (string entry points: nothing heavy imports until make)."""
    import gymnasium as gym

    for env_id, (task, weights) in SHIPPED_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point="cosmos_env.env:WorldModelEnv",
                vector_entry_point="cosmos_env.vector:WorldModelVectorEnv",
                max_episode_steps=load_task(task).max_episode_steps,
                kwargs={"task": task, "weights": weights},
            )
    if GENERIC_ENV not in gym.registry:
        gym.register(
            GENERIC_ENV,
            entry_point="cosmos_env.env:WorldModelEnv",
            vector_entry_point="cosmos_env.vector:WorldModelVectorEnv",
        )


register_envs()
