import numpy as np
import pytest

from cosmos_env.collect import collect
from cosmos_env.data import EpisodeDataset
from cosmos_env.proprio_rules import ProprioRules


@pytest.mark.parametrize("task", ["hopper", "halfcheetah"])
def test_rules_track_mujoco_labels(task, tmp_path):
    collect(task, steps=150, out=tmp_path / task, workers=1, progress=False, steps_after_termination=30)
    rows = EpisodeDataset(tmp_path / task).episode(0, ("obs", "action", "reward", "terminated"))
    obs, action = rows["obs"], rows["action"][:-1]
    rules = ProprioRules.for_task(task)
    reward = rules.reward(obs[:-1], obs[1:], action)
    assert np.corrcoef(reward, rows["reward"][:-1])[0, 1] > 0.95
    np.testing.assert_array_equal(rules.terminated(obs[1:]), rows["terminated"][:-1])


def test_unsupported_task_is_named():
    with pytest.raises(ValueError, match="no proprio rules for task 'reacher'"):
        ProprioRules.for_task("reacher")
