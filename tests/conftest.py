import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402

from tests.envs import save_tiny_weights  # noqa: E402


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """A directory with tiny random world models (with critics) for hopper and halfcheetah."""
    return save_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def weights_v2(tmp_path_factory):
    """The same with Predict's v2 architecture (patches, rotary time, a band, a context cache, shortcut levels)."""
    return save_tiny_weights(tmp_path_factory.mktemp("weights_v2"), predict_size="tiny-v2")
