import json

import numpy as np
import pytest

from cosmos_env.evaluate import Episodes, make_paired_env, paired_rollout, rank_policies
from cosmos_env.reference import MujocoReference
from policies.protocol import RandomPolicy, as_policy


@pytest.fixture(scope="module")
def env(weights):
    env = make_paired_env(weights=weights / "hopper", num_envs=2)
    yield env
    env.close()


def test_paired_rollout_is_deterministic_and_paired(env):
    def run():
        return paired_rollout(RandomPolicy(env.single_action_space), env, [3, 4], 12, 6, frame_stride=4, video=True)

    first, second = run(), run()
    without_clock = [{k: v for k, v in r.summary().items() if k != "seconds"} for r in (first, second)]
    assert json.dumps(without_clock[0]) == json.dumps(without_clock[1])
    # both worlds start from the same state, and a policy blind to observations acts alike in both
    np.testing.assert_array_equal(first.mujoco.obs[:, 0], first.closed_loop.obs[:, 0])
    n = int(first.mujoco.steps.min())
    np.testing.assert_array_equal(first.mujoco.actions[:, :n], first.closed_loop.actions[:, :n])
    np.testing.assert_array_equal(first.open_loop.actions[:, :n], first.mujoco.actions[:, : min(n, 6)])
    with MujocoReference("hopper") as ref:  # the MuJoCo side is MuJoCo's own episode
        ref.reset(seed=3)
        obs = [ref.step(a)[0] for a in first.mujoco.actions[0, : first.mujoco.steps[0]]]
    np.testing.assert_array_equal(np.stack(obs), first.mujoco.obs[0, 1 : first.mujoco.steps[0] + 1])
    assert first.mujoco.video.shape[0] == first.mujoco.steps[0] + 1
    assert first.closed_loop.video.shape[0] == first.closed_loop.steps[0] + 1
    summary = first.summary()
    assert set(summary["imagined"]) == {"critic/critic", "critic/rules", "rules/critic", "rules/rules"}
    assert summary["closed_loop"]["frame_steps"] == [4, 8, 12]
    assert len(summary["open_loop"]["obs_error"]) == 6
    for length, ended in zip(summary["mujoco"]["lengths"], summary["mujoco"]["ended"]):  # random actions may fell it
        assert (ended == "ran all 12 steps") if length == 12 else (" not in (" in ended)
    for length, ended in zip(
        summary["imagined"]["rules/critic"]["lengths"], summary["imagined"]["rules/critic"]["ended"]
    ):
        assert ended == ("ran all 12 steps" if length == 12 else "critic")  # the critic's call, not the rules'


def test_episode_returns_end_at_each_sources_termination():
    terminated = np.array([[0, 0, 1, 0], [0, 0, 0, 0]], bool)
    episodes = Episodes(
        obs=np.zeros((2, 5, 1)),
        actions=np.zeros((2, 4, 1), np.float32),
        rewards={"critic": np.ones((2, 4))},
        terminated={"critic": terminated},
        steps=np.array([4, 3]),
        frames=np.zeros((2, 1, 2, 2, 3), np.uint8),
        frame_stride=10,
    )
    returns, lengths = episodes.returns("critic", "critic")
    assert returns.tolist() == [3, 3] and lengths.tolist() == [3, 3]  # the terminal step counts; steps run cap
    assert episodes.returns("critic", "never")[0].tolist() == [4, 3]


def test_rank_policies_per_variant():
    seeds = [0, 1, 2]
    real = {"a": [1, 2, 3], "b": [10, 11, 12], "c": [20, 21, 22]}
    imagined = {"a": [5, 5, 5], "b": [1, 1, 1], "c": [9, 9, 9]}  # ranks a and b the wrong way round
    summaries = {
        n: {"seeds": seeds, "mujoco": {"returns": real[n]}, "imagined": {"critic/never": {"returns": imagined[n]}}}
        for n in real
    }
    ranking = rank_policies(summaries, bootstrap=50)["critic/never"]
    assert ranking["policies"] == ["a", "b", "c"] and ranking["mujoco_mean"] == [2, 11, 21]
    assert ranking["spearman"]["value"] == pytest.approx(0.5)
    assert ranking["regret"]["value"] == 0  # imagination still picks c, the best
    summaries["c"] = {**summaries["c"], "seeds": [0, 1, 5]}
    with pytest.raises(ValueError, match="same seeds"):
        rank_policies(summaries)


def test_random_policy_streams_depend_on_seeds_only(env):
    policy = RandomPolicy(env.single_action_space)
    policy.reset([1, 2])
    both = np.stack([policy.act(np.zeros((2, 11))) for _ in range(3)], 1)
    policy.reset([2])
    alone = np.stack([policy.act(np.ones((1, 11))) for _ in range(3)], 1)
    np.testing.assert_array_equal(both[1], alone[0])
    assert not np.array_equal(both[0], both[1])
    with pytest.raises(RuntimeError, match="reset"):
        policy.act(np.zeros((3, 11)))
    assert as_policy(policy) is policy


class FrameRecorder:
    """A pixel policy: zero actions, remembering the mean colour of every frame it is shown."""

    def __init__(self) -> None:
        self.colours: list[np.ndarray] = []

    def act(self, frames: np.ndarray) -> np.ndarray:
        assert frames.shape == (1, 64, 64, 3) and frames.dtype == np.uint8
        self.colours.append(frames.reshape(-1, 3).mean(0))
        return np.zeros((1, 3), np.float32)


def test_pixel_returns_act_on_styled_frames_and_match_state_returns():
    from cosmos_env.evaluate import mujoco_pixel_returns, mujoco_returns
    from cosmos_env.tasks import load_task

    task, seeds = load_task("hopper"), [3, 4]
    plain, night = FrameRecorder(), FrameRecorder()
    canonical = mujoco_pixel_returns(plain, task, seeds, [None, None], horizon=10)
    styled = mujoco_pixel_returns(night, task, seeds, ["night", "night"], horizon=10)
    # the look changes what the policy sees, never the physics
    zero = as_policy(lambda obs: np.zeros((len(obs), 3), np.float32))
    np.testing.assert_allclose(canonical, mujoco_returns(zero, task, seeds, horizon=10))
    np.testing.assert_allclose(styled, canonical)
    assert len(plain.colours) == len(night.colours) == 20
    assert np.abs(np.mean(plain.colours, 0) - np.mean(night.colours, 0)).max() > 10
    with pytest.raises(ValueError, match="one style per seed"):
        mujoco_pixel_returns(plain, task, seeds, [None])
