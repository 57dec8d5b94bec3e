import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC

from policies.actor import MLPActor, save_sac_actor


@pytest.fixture(scope="module")
def sac():
    env = gym.make("InvertedPendulum-v5")  # actions in [-3, 3]: the bounds are scaled, not assumed
    return SAC("MlpPolicy", env, policy_kwargs={"net_arch": [16, 8]}, seed=0, device="cpu")


def test_saved_sac_actor_acts_as_the_sac_policy(sac, tmp_path):
    save_sac_actor(sac, tmp_path / "actor", extra={"step": 0})
    actor = MLPActor.load(tmp_path / "actor")
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    expected, _ = sac.predict(obs, deterministic=True)
    np.testing.assert_allclose(actor.act(obs), expected, atol=1e-6)
    assert actor.config.hidden == (16, 8) and actor.config.extra == {"step": 0}
    assert sorted(p.name for p in (tmp_path / "actor").iterdir()) == ["actor.json", "actor.safetensors"]


def test_missing_actor_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="actor.json"):
        MLPActor.load(tmp_path)


def test_damaged_actor_weights_are_refused(sac, tmp_path):
    save_sac_actor(sac, tmp_path / "actor")
    path = tmp_path / "actor" / "actor.safetensors"
    data = bytearray(path.read_bytes())
    data[-8:] = bytes(8)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="actor.safetensors: SHA-256 .* re-download or re-save"):
        MLPActor.load(tmp_path / "actor")
