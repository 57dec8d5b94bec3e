import pytest
import torch
from torchrl.envs.utils import check_env_specs

import cosmos_env
from cosmos_env.adapters.torchrl import make_torchrl_env
from cosmos_env.reference import MujocoReference
from tests.envs import task_of


@pytest.mark.parametrize("env_id", cosmos_env.ENV_IDS)
def test_check_env_specs_on_every_registered_id(env_id, weights):
    env = make_torchrl_env(num_envs=2, weights=weights / task_of(env_id))
    check_env_specs(env)
    with MujocoReference(task_of(env_id)) as ref:  # specs come from the MuJoCo task
        assert env.observation_spec["observation"].shape == (2, *ref.observation_space.shape)
        assert env.action_spec.shape == (2, *ref.action_space.shape)
        assert torch.equal(env.action_spec.space.low[0], torch.as_tensor(ref.action_space.low))


def test_pixels_and_partial_resets(weights):
    env = make_torchrl_env(num_envs=3, weights=weights / "hopper", obs_mode="dict", max_episode_steps=4)
    check_env_specs(env)
    env.set_seed(0)
    td = env.reset()
    assert td["pixels"].shape == (3, 64, 64, 3) and td["observation"].dtype == torch.float64
    for _ in range(2):
        td = env.rand_step(td)
        td = td["next"].exclude("reward")
    before = td["observation"].clone()
    td.set("_reset", torch.tensor([[True], [False], [False]]))
    after = env.reset(td)
    assert torch.equal(after["observation"][1:], before[1:]) and not torch.equal(after["observation"][0], before[0])
    rollout = env.rollout(6, break_when_any_done=False)
    done = rollout["next", "truncated"].squeeze(-1)
    assert done[:, 3].all() and not done[:, :3].any()  # the time limit, then torchrl reset them
