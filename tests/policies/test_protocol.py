import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import SAC
from tensordict.nn import TensorDictModule

from policies.actor import MLPActor, save_sac_actor
from policies.protocol import Policy, as_policy


@pytest.fixture(scope="module")
def sac():
    env = gym.make("InvertedPendulum-v5")
    return SAC("MlpPolicy", env, policy_kwargs={"net_arch": [16, 8]}, seed=0, device="cpu")


def test_every_adapter_gives_the_same_actions_for_the_same_weights(sac, tmp_path):
    save_sac_actor(sac, tmp_path / "actor")
    actor = MLPActor.load(tmp_path / "actor")
    sac.save(tmp_path / "sac.zip")
    obs = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    expected = sac.predict(obs, deterministic=True)[0]
    policies = [
        as_policy(sac),
        as_policy(tmp_path / "actor"),
        as_policy(lambda o: actor(torch.as_tensor(o)).detach().numpy()),
        as_policy(actor),
        as_policy(TensorDictModule(actor, in_keys=["observation"], out_keys=["action"])),
        as_policy(torch.nn.Sequential(actor)),
        as_policy(tmp_path / "sac.zip", trusted=True),
    ]
    for policy in policies:
        assert isinstance(policy, Policy)
        np.testing.assert_allclose(policy.act(obs), expected, atol=1e-6)


def test_pickled_files_load_only_when_trusted(sac, tmp_path):
    sac.save(tmp_path / "sac.zip")
    with pytest.raises(ValueError, match="trusted=True"):
        as_policy(tmp_path / "sac.zip")
    with pytest.raises(FileNotFoundError, match="not a policy"):
        as_policy(tmp_path / "nothing")
    with pytest.raises(TypeError, match="cannot make a policy"):
        as_policy(42)
