"""cosmos-env: learned video world models as Gymnasium environments."""

import os

# headless MuJoCo rendering; must be set before the first `import mujoco` in the process
os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos_env.tasks import TaskConfig, UnknownTaskError, known_tasks, load_task

__version__ = "0.1.0"

__all__ = ["TaskConfig", "UnknownTaskError", "known_tasks", "load_task", "__version__"]
