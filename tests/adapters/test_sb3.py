import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import VecMonitor

import cosmos_env
from cosmos_env.adapters.sb3 import SB3VecEnv
from cosmos_env.reference import MujocoReference
from cosmos_env.vector import WorldModelVectorEnv
from tests.envs import make


@pytest.mark.parametrize("env_id", cosmos_env.ENV_IDS)
def test_sb3_check_env_on_every_registered_id(env_id, weights):
    check_env(make(env_id, weights).unwrapped, warn=True)


def test_time_limit_and_terminal_observation(weights):
    env = SB3VecEnv(WorldModelVectorEnv(num_envs=3, weights=weights / "hopper", max_episode_steps=3))
    # a twin that never resets itself: same seed, same actions, so the same imagined steps;
    # its observation after the last step is the one the autoreset replaced
    twin = WorldModelVectorEnv(
        num_envs=3, weights=weights / "hopper", max_episode_steps=3, autoreset_mode=AutoresetMode.DISABLED
    )
    env.seed(5)
    np.testing.assert_array_equal(env.reset(), twin.reset(seed=5)[0])
    actions = np.random.default_rng(0).uniform(-1, 1, (3, 3)).astype(np.float32)
    for _ in range(2):
        obs, reward, done, infos = env.step(actions)
        assert not done.any() and not any(i["TimeLimit.truncated"] for i in infos)
        twin_obs, twin_reward, *_ = twin.step(actions)
        np.testing.assert_array_equal(obs, twin_obs)  # stepping is deterministic from a seeded reset
        np.testing.assert_array_equal(reward, twin_reward.astype(np.float32))
    before_last = obs
    obs, reward, done, infos = env.step(actions)
    last_imagined, _, _, twin_truncated, _ = twin.step(actions)
    assert done.all() and all(i["TimeLimit.truncated"] for i in infos) and reward.dtype == np.float32
    assert twin_truncated.all()
    with MujocoReference("hopper") as ref:
        for i, info in enumerate(infos):
            assert info["terminal_observation"].shape == (11,)
            np.testing.assert_array_equal(info["terminal_observation"], last_imagined[i])  # the final step's
            assert not np.allclose(info["terminal_observation"], before_last[i])  # not the step before it
            assert not np.allclose(info["terminal_observation"], obs[i])  # the true last one, not the new start
            np.testing.assert_array_equal(obs[i], ref.reset(seed=int(info["reference_seed"]))[0])


def test_ppo_trains_on_the_batched_env(weights):
    env = VecMonitor(SB3VecEnv(WorldModelVectorEnv(num_envs=4, weights=weights / "hopper", max_episode_steps=8)))
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    assert model.num_timesteps == 64 and len(model.ep_info_buffer) > 0  # episodes ended and were counted
