"""cosmos-env: learned video world models as Gymnasium environments.

``import cosmos_env`` registers ``cosmos_env/<Task>-v0`` for the shipped world models
(Hopper, HalfCheetah) and ``cosmos_env/WorldModel-v0`` for any world model directory
(``gym.make("cosmos_env/WorldModel-v0", weights=DIR)``), each with a ``vector_entry_point``
for ``gym.make_vec(..., vectorization_mode="vector_entry_point")``.
"""

import os

# headless MuJoCo rendering; must be set before the first `import mujoco` in the process
os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos_env.tasks import TaskConfig, UnknownTaskError, known_tasks, load_task

__version__ = "0.2.0"

__all__ = ["TaskConfig", "UnknownTaskError", "known_tasks", "load_task", "register_envs", "ENV_IDS", "__version__"]

SHIPPED_ENVS = {"hopper": "cosmos_env/Hopper-v0", "halfcheetah": "cosmos_env/HalfCheetah-v0"}
GENERIC_ENV = "cosmos_env/WorldModel-v0"
ENV_IDS = (*SHIPPED_ENVS.values(), GENERIC_ENV)


def register_envs() -> None:
    """Register the env ids (string entry points: nothing heavy imports until make)."""
    import gymnasium as gym

    for task, env_id in SHIPPED_ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point="cosmos_env.env:WorldModelEnv",
                vector_entry_point="cosmos_env.vector:WorldModelVectorEnv",
                max_episode_steps=load_task(task).max_episode_steps,
                kwargs={"task": task},
            )
    if GENERIC_ENV not in gym.registry:
        gym.register(
            GENERIC_ENV,
            entry_point="cosmos_env.env:WorldModelEnv",
            vector_entry_point="cosmos_env.vector:WorldModelVectorEnv",
        )


register_envs()
