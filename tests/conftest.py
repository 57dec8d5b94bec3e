import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402

from tests.envs import save_tiny_weights  # noqa: E402


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """A directory with tiny random world models (with critics) for hopper and halfcheetah."""
    return save_tiny_weights(tmp_path_factory.mktemp("weights"))
