import numpy as np
import pytest

from cosmos_env.reference import MujocoReference
from cosmos_env.tasks import known_tasks, load_task


def rollout(ref: MujocoReference, actions: np.ndarray):
    frames, observations = [], []
    for action in actions:
        obs, *_ = ref.step(action)
        frames.append(ref.render())
        observations.append(obs)
    return frames, np.array(observations)


@pytest.mark.parametrize("task", known_tasks())
def test_frames_have_documented_shapes_and_dtypes(task):
    with MujocoReference(task) as ref:
        ref.reset(seed=0)
        ref.step(ref.action_space.sample())
        frame = ref.render()
    h, w = ref.task.height, ref.task.width
    assert frame.rgb.shape == (h, w, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (h, w) and frame.depth.dtype == np.float32
    assert frame.segmentation.shape == (h, w) and frame.segmentation.dtype == np.uint8
    assert np.all(frame.depth > 0)
    # the robot is in view: several geoms are visible, and the image is not blank
    assert len(np.unique(frame.segmentation)) >= 3
    assert frame.rgb.std() > 5


def test_same_seed_same_frames():
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    runs = []
    for _ in range(2):
        with MujocoReference("hopper") as ref:
            obs0, _ = ref.reset(seed=3)
            frames, obs = rollout(ref, actions)
            runs.append((obs0, frames, obs))
    (a0, fa, oa), (b0, fb, ob) = runs
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(oa, ob)
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.depth, y.depth)
        np.testing.assert_array_equal(x.segmentation, y.segmentation)


def test_different_seeds_differ():
    with MujocoReference("hopper") as ref:
        a, _ = ref.reset(seed=0)
        b, _ = ref.reset(seed=1)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("task", ["hopper", "halfcheetah"])
def test_state_round_trip_replays_the_same_future(task):
    rng = np.random.default_rng(1)
    with MujocoReference(task) as ref:
        ref.reset(seed=0)
        for a in rng.uniform(-1, 1, (5, ref.action_space.shape[0])):
            ref.step(a.astype(np.float32))
        state, obs_at_state = ref.get_state(), ref.observation()
        actions = rng.uniform(-1, 1, (10, ref.action_space.shape[0])).astype(np.float32)
        frames_a, obs_a = rollout(ref, actions)
    with MujocoReference(task) as other:  # a fresh env restored to that state
        other.reset(seed=123)
        np.testing.assert_array_equal(other.set_state(state), obs_at_state)
        frames_b, obs_b = rollout(other, actions)
    np.testing.assert_array_equal(obs_a, obs_b)
    for x, y in zip(frames_a, frames_b):
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.segmentation, y.segmentation)


def test_set_state_rejects_wrong_shape():
    with MujocoReference("hopper") as ref, pytest.raises(ValueError, match="state must have shape"):
        ref.set_state(np.zeros(3))


def test_body_segmentation_merges_geoms_of_a_body():
    with MujocoReference(load_task("halfcheetah", segmentation="body")) as ref:
        ref.reset(seed=0)
        ids = set(np.unique(ref.render().segmentation)) - {0}
        assert ids <= set(ref.model.geom_bodyid + 1)
        assert len(ids) < ref.model.ngeom


def test_resolution_and_unknown_camera():
    with MujocoReference(load_task("hopper", width=32, height=48)) as ref:
        ref.reset(seed=0)
        assert ref.render().rgb.shape == (48, 32, 3)
    with pytest.raises(ValueError, match="no camera named 'side'"):
        MujocoReference(load_task("hopper", camera="side"))


def test_mujoco_warnings_reach_python_warnings_not_stderr(capfd):
    import mujoco

    from cosmos_env.reference import MujocoWarning, make_mujoco

    with pytest.warns(MujocoWarning, match="settotalmass"):  # gymnasium's half_cheetah.xml under MuJoCo 4
        make_mujoco("HalfCheetah-v5").close()
    printed = capfd.readouterr()
    assert "settotalmass" not in printed.out + printed.err  # MuJoCo prints it to stderr otherwise
    assert mujoco.get_mju_user_warning() is None  # MuJoCo's own handler is back
