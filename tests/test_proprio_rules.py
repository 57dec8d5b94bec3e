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
    assert [bool(rules.why_terminated(o)) for o in obs[1:]] == rules.terminated(obs[1:]).tolist()


def test_why_terminated_names_each_healthy_range_left():
    rules = ProprioRules.for_task("hopper")
    obs = np.zeros(11)
    obs[0] = 1.25
    assert rules.why_terminated(obs) == "" and not rules.terminated(obs)
    obs[0], obs[1], obs[5] = 0.664, 0.3, np.nan  # fallen, tilted, and a non-finite velocity
    assert rules.terminated(obs)
    assert rules.why_terminated(obs) == (
        "z 0.664 not in (0.7, inf); angle 0.3 not in (-0.2, 0.2); obs[5] nan not in (-100, 100)"
    )
    assert ProprioRules.for_task("halfcheetah").why_terminated(np.full(17, 1e9)) == ""  # it never terminates


def test_unsupported_task_is_named():
    with pytest.raises(ValueError, match="no proprio rules for task 'reacher'"):
        ProprioRules.for_task("reacher")
