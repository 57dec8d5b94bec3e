import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import cosmos_env
from cosmos_env.reference import MujocoReference
from cosmos_env.testing import tiny_world_model
from cosmos_env.vector import WorldModelVectorEnv
from tests.envs import make


@pytest.mark.parametrize("env_id", cosmos_env.ENV_IDS)
def test_gymnasium_check_env_on_every_registered_id(env_id, weights):
    env = make(env_id, weights)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_check_env_on_the_v2_architecture(weights_v2):
    env = make("cosmos_env/Hopper-v0", weights_v2, obs_mode="pixels", sampler_steps=2)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    assert env.unwrapped.core.history.cache is not None  # sampled from cached keys and values


@pytest.mark.parametrize("obs_mode", ["pixels", "dict"])
def test_check_env_in_every_observation_mode(obs_mode, weights):
    env = make("cosmos_env/Hopper-v0", weights, obs_mode=obs_mode, render_mode="rgb_array")
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    env.close()


def test_reset_stands_where_mujoco_does(weights):
    env = make("cosmos_env/Hopper-v0", weights, obs_mode="dict")
    obs, info = env.reset(seed=7)
    with MujocoReference("hopper") as ref:
        ref_obs, _ = ref.reset(seed=7)
        ref_rgb = ref.render().rgb
    np.testing.assert_array_equal(obs["state"], ref_obs)
    np.testing.assert_array_equal(obs["pixels"], ref_rgb)
    assert info["reference_id"] == "Hopper-v5" and info["reference_seed"] == 7 and info["start"] == "mujoco"
    assert env.spec.max_episode_steps == 1000 and env.observation_space["state"] == ref.observation_space


def test_bad_actions_are_named(weights):
    env = make("cosmos_env/Hopper-v0", weights)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must have shape \(3,\), got \(2,\)"):
        env.step(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([0.0, np.nan, 0.0], np.float32))
    with pytest.raises(TypeError, match="must be real numbers"):
        env.step(np.array(["a", "b", "c"]))
    env.step(np.full(3, 5.0, np.float32))  # out of bounds: clipped, as MuJoCo clamps controls
    with pytest.raises(gym.error.NameNotFound if hasattr(gym.error, "NameNotFound") else gym.error.Error):
        gym.make("cosmos_env/Nope-v0")


def test_seeded_rollouts_repeat(weights):
    actions = np.random.default_rng(0).uniform(-1, 1, (6, 3)).astype(np.float32)

    def run():
        env = make("cosmos_env/Hopper-v0", weights, sampler_steps=2, context_noise=0.1)
        obs = [env.reset(seed=3)[0]]
        obs += [env.step(a)[0] for a in actions]
        return np.stack(obs)

    np.testing.assert_array_equal(run(), run())


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_make_vec_steps_in_one_batch_and_autoresets_only_finished_envs(version, request):
    weights = request.getfixturevalue("weights" if version == "v1" else "weights_v2")
    rng = np.random.default_rng(0)
    warmup, actions = rng.uniform(-1, 1, (2, 3, 3)).astype(np.float32), rng.uniform(-1, 1, (4, 3, 3)).astype(np.float32)

    def run(limit):
        envs = gym.make_vec(
            "cosmos_env/Hopper-v0",
            num_envs=3,
            vectorization_mode="vector_entry_point",
            weights=weights / "hopper",
            max_episode_steps=limit,
        )
        assert isinstance(envs, WorldModelVectorEnv)
        assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
        envs.reset(seed=0)
        for a in warmup:
            envs.step(a)
        obs, _ = envs.reset(options={"reset_mask": np.array([True, False, False])})  # env 0 restarts alone
        age = envs.history.age  # steps since each frame's real start: env 0's history is real again
        assert not age[0].any() and age[1:, -1].tolist() == [2, 2]  # two warm-up steps
        trajectory0, steps = [obs[0]], []
        for a in actions:
            obs, reward, terminated, truncated, info = envs.step(a)
            trajectory0.append(info["final_obs"][0] if truncated[0] else obs[0])
            steps.append((obs, truncated, info))
        return np.stack(trajectory0), steps

    with_resets, steps = run(limit=4)
    obs, truncated, info = steps[1]  # envs 1 and 2 reach the limit; env 0 does not
    assert truncated.tolist() == [False, True, True] and info["_final_obs"].tolist() == [False, True, True]
    assert info["final_obs"][1].shape == (11,) and info["final_obs"][0] is None
    with MujocoReference("hopper") as ref:  # their new episodes start from MuJoCo
        for i in (1, 2):
            np.testing.assert_array_equal(obs[i], ref.reset(seed=int(info["reference_seed"][i]))[0])
    assert steps[3][1][0] and not steps[3][1][1:].any()  # env 0 at its limit, the others mid-episode
    # env 0's episode ran unbroken through the others' resets: the same as with no resets at all
    without_resets, _ = run(limit=100)
    np.testing.assert_array_equal(with_resets, without_resets)


def test_reset_from_a_dataset_episode_and_from_frames(weights, tmp_path):
    from cosmos_env.collect import collect
    from cosmos_env.data import EpisodeDataset

    collect("hopper", steps=30, out=tmp_path / "data", workers=1, progress=False)
    env = make("cosmos_env/Hopper-v0", weights, obs_mode="dict")
    obs, info = env.reset(options={"dataset": tmp_path / "data", "episode": 0, "row": 5})
    row = EpisodeDataset(tmp_path / "data").rows(0, 5, 6, ("rgb", "obs"))
    np.testing.assert_array_equal(obs["pixels"], row["rgb"][0])
    np.testing.assert_allclose(obs["state"], row["obs"][0])
    assert info["start"] == "dataset" and info["reference_seed"] == -1
    obs, info = env.reset(options={"rgb": row["rgb"][0], "obs": row["obs"][0]})
    assert info["start"] == "frames" and np.array_equal(obs["pixels"], row["rgb"][0])
    with pytest.raises(ValueError, match=r"unknown \['frames'\]"):
        env.reset(options={"frames": 1})
    data = tmp_path / "data"
    bad = [
        ({"dataset": data, "episod": 0}, r"unknown \['episod'\]"),
        ({"dataset": data, "episode": -1}, "episode -1 is not in the dataset"),
        ({"dataset": data, "episode": 999}, r"episode 999 is not in the dataset \(\d+ episodes\)"),
        ({"dataset": data, "row": 10_000}, "row 10000 is not in episode 0"),
        ({"dataset": data, "episode": 0.5}, "must be an integer"),
        ({"episode": 0}, "no 'dataset'"),
        ({"rgb": row["rgb"][0]}, "needs both options 'rgb' and 'obs'"),
        ({"rgb": row["rgb"][0], "obs": row["obs"][0], "dataset": data}, "not both"),
    ]
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            env.reset(options=options)


def test_reset_from_real_clips_starts_in_motion(weights_v2):
    def clip(seed: int, steps: int = 6):  # MuJoCo's frames, observations and actions under a fixed action
        with MujocoReference("hopper") as ref:
            obs = [ref.reset(seed=seed)[0]]
            rgb, actions = [ref.render().rgb], []
            for _ in range(steps):
                actions.append(np.array([0.5, -0.5, 0.5], np.float32))
                obs.append(ref.step(actions[-1])[0])
                rgb.append(ref.render().rgb)
        return np.stack(rgb), np.stack(obs), np.stack(actions)

    rgb, obs, actions = (np.stack(parts) for parts in zip(clip(0), clip(1)))  # (2, 7, ...), (2, 6, 3)
    envs = WorldModelVectorEnv(num_envs=2, weights=weights_v2 / "hopper", obs_mode="dict")
    first, info = envs.reset(seed=0, options={"rgb": rgb, "obs": obs, "actions": actions})
    assert (info["start"] == "frames").all()
    np.testing.assert_array_equal(first["state"], obs[:, -1])  # it stands at the clip's last row
    np.testing.assert_array_equal(first["pixels"], rgb[:, -1])
    moving = envs.step(actions[:, -1])[0]["state"]
    envs.reset(seed=0, options={"rgb": rgb[:, -1], "obs": obs[:, -1]})  # the same last frame, no past
    still = envs.step(actions[:, -1])[0]["state"]
    assert not np.allclose(moving, still)  # the clip's earlier rows are the model's context
    single = make("cosmos_env/Hopper-v0", weights_v2, obs_mode="dict")
    single.reset(seed=0, options={"rgb": rgb[0], "obs": obs[0], "actions": actions[0]})
    np.testing.assert_allclose(single.step(actions[0, -1])[0]["state"], moving[0], atol=1e-5)
    bad = [
        ({"rgb": rgb, "obs": obs, "actions": actions[:, 1:]}, r"options\['actions'\] must be \(2, 6, 3\)"),
        ({"rgb": rgb, "obs": obs[:, 1:], "actions": actions}, r"options\['obs'\] must be \(2, T, 11\)"),
        ({"rgb": rgb[:, -1], "obs": obs[:, -1], "actions": actions}, "goes with clips"),
        ({"rgb": rgb, "obs": obs, "actions": np.full_like(actions, np.nan)}, "finite"),
        ({"rgb": rgb, "obs": np.where(np.arange(7)[:, None] == 2, np.nan, obs)}, r"\['obs'\]\[0, 2, 0\] = nan"),
        (
            {"rgb": rgb, "obs": np.where(np.arange(7)[:, None] == 6, 1e6, obs)},
            r"\['obs'\]\[0, -1, 0\] = 1000000.0 is not",
        ),
    ]
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            envs.reset(seed=0, options=options)


def test_seeds_masks_and_actions_are_checked(weights):
    envs = WorldModelVectorEnv(num_envs=4, weights=weights / "hopper")
    first, _ = envs.reset(seed=np.int64(3))  # any integer type
    again, _ = envs.reset(seed=[3, 4, 5, 6])
    np.testing.assert_array_equal(first, again)
    for seed, message in (([1, 2], "one seed per env"), (1.5, "integer"), ([[1, 2]] * 2, "integer"), (-1, ">= 0")):
        with pytest.raises(ValueError, match=message):
            envs.reset(seed=seed)
    with pytest.raises(ValueError, match=r"reset_mask must be \(4,\) bool"):
        envs.reset(options={"reset_mask": ["no"] * 4})
    obs, info = envs.reset(options={"reset_mask": np.zeros(4, bool)})  # resets nothing
    np.testing.assert_array_equal(obs, first) and (info["start"] == "none").all()
    for actions in (torch.zeros(4, 3, dtype=torch.bool), torch.zeros(4, 3, dtype=torch.complex64)):
        with pytest.raises(TypeError, match="real numbers"):
            envs.step(actions)
    single = make("cosmos_env/Hopper-v0", weights)
    single.reset(seed=np.int32(2))
    single.step(torch.zeros(3, requires_grad=True))  # a tensor that needs grad is just read
    with pytest.raises(ValueError, match="one integer"):
        single.reset(seed=[1, 2])


def test_a_world_model_without_critic_or_task_is_refused(weights, tmp_path):
    model = tiny_world_model("hopper", critic=False)
    with pytest.raises(ValueError, match="no Reason critic"):
        WorldModelVectorEnv(model=model, task="hopper")
    with pytest.raises(FileNotFoundError, match="not a world model directory"):
        gym.make("cosmos_env/WorldModel-v0", weights=tmp_path)
    with pytest.raises(ValueError, match="unknown obs_mode"):
        make("cosmos_env/Hopper-v0", weights, obs_mode="latent")


@pytest.mark.parametrize("env_id", list(cosmos_env.SHIPPED_ENVS))
def test_shipped_world_models_make_offline_on_cpu(env_id):
    """gym.make with no weights= loads the committed model; it starts where MuJoCo does."""
    env = gym.make(env_id, obs_mode="dict")
    obs, info = env.reset(seed=7)
    with MujocoReference(env.unwrapped.task) as ref:
        np.testing.assert_array_equal(obs["state"], ref.reset(seed=7)[0])
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert np.isfinite(obs["state"]).all() and obs["pixels"].shape == (64, 64, 3)
    assert np.isfinite(reward) and 0 <= info["plausibility"] <= 1
    assert env.spec.max_episode_steps == 1000
    env.close()


@pytest.mark.parametrize("task, ends", [("hopper", True), ("halfcheetah", False)])
def test_only_tasks_that_can_terminate_terminate_in_imagination(task, ends, tmp_path):
    model = tiny_world_model(task)
    model.reason.heads.bias.data[1] = 50.0  # a critic that calls every state terminal
    env = WorldModelVectorEnv(num_envs=2, task=task, model=model, autoreset_mode="Disabled", termination_fn="critic")
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.zeros((2, *env.single_action_space.shape)))
    assert terminated.tolist() == [ends, ends]
    assert (info["terminated_probability"] > 0.99).all()  # the critic's call is still reported
    reasons = info["termination_reason"].tolist() if "termination_reason" in info else None
    assert reasons == (["critic: P(terminated) 1.00 > 0.5"] * 2 if ends else None)


def test_rewards_and_terminations_from_critic_or_rules(weights):
    from cosmos_env.proprio_rules import ProprioRules

    env = WorldModelVectorEnv(
        num_envs=2, weights=weights / "hopper", reward_fn="rules", termination_fn="rules", autoreset_mode="Disabled"
    )
    obs, _ = env.reset(seed=0)
    action = np.full((2, 3), 0.5)
    nxt, reward, terminated, _, info = env.step(action)
    rules = ProprioRules.for_task("hopper")
    np.testing.assert_allclose(reward, rules.reward(obs, nxt, action))
    np.testing.assert_array_equal(terminated, rules.terminated(nxt))
    for key in ("critic_reward", "rules_reward", "critic_terminated", "rules_terminated"):
        assert info[key].shape == (2,)
    np.testing.assert_array_equal(info["rules_reward"], reward)
    env.rules = dataclasses.replace(rules, z_range=(10.0, np.inf))  # no hopper stands 10 m tall
    nxt, _, terminated, _, info = env.step(action)
    assert terminated.all() and info["_termination_reason"].all()
    assert info["termination_reason"].tolist() == [f"rules: z {z:.3g} not in (10, inf)" for z in nxt[:, 0]]
    with pytest.raises(ValueError, match="unknown reward_fn 'learned'; known: critic, rules"):
        WorldModelVectorEnv(weights=weights / "hopper", reward_fn="learned")
    with pytest.raises(ValueError, match="no proprio rules for task 'reacher'"):
        WorldModelVectorEnv(task="reacher", model=tiny_world_model("reacher"), termination_fn="rules")


def test_critic_false_skips_reason_and_steps_the_same(weights_v2):
    actions = np.random.default_rng(0).uniform(-1, 1, (5, 2, 3))
    judged = WorldModelVectorEnv(num_envs=2, weights=weights_v2 / "hopper", autoreset_mode="Disabled")
    lean = WorldModelVectorEnv(num_envs=2, weights=weights_v2 / "hopper", autoreset_mode="Disabled", critic=False)
    for env in (judged, lean):
        env.reset(seed=3)
    for a in actions:
        *with_critic, info = judged.step(a)
        *without, lean_info = lean.step(a)
        for x, y in zip(with_critic, without):
            np.testing.assert_array_equal(x, y)
    assert "plausibility" in info and not {"plausibility", "critic_reward"} & set(lean_info)
    np.testing.assert_array_equal(lean_info["rules_reward"], info["rules_reward"])
    model = tiny_world_model("hopper", critic=False)  # no reason/ at all: the rules judge alone
    WorldModelVectorEnv(model=model, task="hopper", critic=False).reset(seed=0)
    with pytest.raises(ValueError, match="critic=False leaves no critic, but reward_fn='critic'"):
        WorldModelVectorEnv(weights=weights_v2 / "hopper", critic=False, reward_fn="critic")
    with pytest.raises(ValueError, match="best_of=4 need one"):
        WorldModelVectorEnv(weights=weights_v2 / "hopper", critic=False, best_of=4)


def test_an_envs_trajectory_depends_on_its_seed_and_actions_only(weights):
    """Env i of a batch == a single env from seed i with env i's actions; CPU matmul kernels
    round differently by batch size, so equal to float tolerance, not bit for bit."""
    actions = np.random.default_rng(0).uniform(-1, 1, (8, 6, 3))
    batch = WorldModelVectorEnv(num_envs=6, weights=weights / "hopper", autoreset_mode="Disabled")
    trajectory = [batch.reset(seed=0)[0]] + [batch.step(a)[0] for a in actions]
    for i in (0, 4):
        single = make("cosmos_env/Hopper-v0", weights)
        alone = [single.reset(seed=i)[0]] + [single.step(a[i])[0] for a in actions]
        np.testing.assert_allclose(np.stack(alone), np.stack(trajectory)[:, i], atol=1e-4, rtol=0)


def test_bad_starts_are_refused_and_nan_ends_the_episode(weights):
    env = WorldModelVectorEnv(num_envs=2, weights=weights / "hopper", autoreset_mode="Disabled")
    rgb = np.zeros((2, 64, 64, 3), np.uint8)
    with MujocoReference("hopper") as ref:
        obs = np.stack([ref.reset(seed=0)[0]] * 2)
    for value in (np.nan, 1e30):
        bad = obs.copy()
        bad[1, 3] = value
        with pytest.raises(ValueError, match=r"env 1: options\['obs'\]\[1, 3\] = .* not finite or over 20 stds"):
            env.reset(options={"rgb": rgb, "obs": bad})
    model = tiny_world_model("hopper")
    with torch.no_grad():
        next(p for n, p in model.predict.named_parameters() if "out" in n).fill_(float("nan"))
    broken = WorldModelVectorEnv(num_envs=2, task="hopper", model=model, autoreset_mode="Disabled")
    broken.reset(seed=0)
    _, _, terminated, _, info = broken.step(np.zeros((2, 3)))
    assert terminated.all() and (info["error"] == "non-finite imagined frame, observation or reward").all()


def test_styled_observations_come_from_transfer(tmp_path):
    model = tiny_world_model("hopper", transfer=True)
    model.save_pretrained(tmp_path / "wm", extra={"task": {"name": "hopper"}})
    plain = WorldModelVectorEnv(num_envs=2, weights=tmp_path / "wm", obs_mode="pixels")
    styled = WorldModelVectorEnv(num_envs=2, weights=tmp_path / "wm", obs_mode="pixels", style="random")
    check_env(make_single(tmp_path / "wm", style="dusk", obs_mode="pixels"), skip_render_check=True)
    obs_plain, _ = plain.reset(seed=0)
    obs, info = styled.reset(seed=0)
    assert obs.shape == obs_plain.shape and not np.array_equal(obs, obs_plain)
    assert info["style"].shape == (2, 12) and not np.array_equal(info["style"][0], info["style"][1])
    again = WorldModelVectorEnv(num_envs=2, weights=tmp_path / "wm", obs_mode="pixels", style="random")
    np.testing.assert_array_equal(again.reset(seed=0)[1]["style"], info["style"])  # seeded by the reset
    obs, *_, info = styled.step(np.zeros((2, 3), np.float32))
    assert obs.shape == (2, 64, 64, 3) and info["style"].shape == (2, 12)
    edges_only = WorldModelVectorEnv(
        num_envs=2, weights=tmp_path / "wm", obs_mode="pixels", style="dusk", control_weights={"edge": 1.0}
    )
    assert not np.array_equal(edges_only.reset(seed=0)[0], styled.reset(seed=0)[0])
    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        WorldModelVectorEnv(weights=tmp_path / "wm", style="sepia")
    tiny_world_model("hopper").save_pretrained(tmp_path / "plain", extra={"task": {"name": "hopper"}})
    with pytest.raises(ValueError, match="needs a world model with a Transfer model"):
        WorldModelVectorEnv(weights=tmp_path / "plain", style="dusk")


def test_per_env_styles_draw_one_imagined_scene_in_each_look(tmp_path):
    from cosmos_env.styles import preset

    tiny_world_model("hopper", transfer=True).save_pretrained(tmp_path / "wm", extra={"task": {"name": "hopper"}})
    looks = np.stack([preset("dusk"), preset("snow"), preset("dusk")])
    env = WorldModelVectorEnv(num_envs=3, weights=tmp_path / "wm", obs_mode="pixels", style=looks)
    obs, info = env.reset(seed=[7, 7, 7])  # one start and one noise stream in every env
    np.testing.assert_array_equal(info["style"], looks)
    obs, *_, info = env.step(np.full((3, 3), 0.5, np.float32))
    np.testing.assert_array_equal(obs[0], obs[2])  # same scene, same look
    assert not np.array_equal(obs[0], obs[1])  # same scene, another look
    np.testing.assert_array_equal(info["style"], looks)
    with pytest.raises(ValueError, match=r"per-env styles must be \(3, 12\)"):
        WorldModelVectorEnv(num_envs=3, weights=tmp_path / "wm", style=looks[:2])


def make_single(weights, **kwargs):
    from cosmos_env.env import WorldModelEnv

    return WorldModelEnv(weights=weights, **kwargs)


def test_a_start_pool_starts_from_real_clips_of_a_dataset(weights, tmp_path):
    from cosmos_env.collect import collect
    from cosmos_env.data import EpisodeDataset

    collect("hopper", steps=60, out=tmp_path / "pool", workers=1, progress=False, steps_after_termination=20)
    envs = WorldModelVectorEnv(
        num_envs=3, weights=weights / "hopper", start_pool=tmp_path / "pool", max_episode_steps=2
    )
    obs, info = envs.reset(seed=0)
    assert (info["start"] == "pool").all()
    pool = EpisodeDataset(tmp_path / "pool")
    rows = np.concatenate([np.asarray(pool.episode(i, ("obs",))["obs"]) for i in range(len(pool))])
    assert all(np.isclose(rows, o, atol=1e-6).all(1).any() for o in obs)  # each start is a dataset row
    again = WorldModelVectorEnv(num_envs=3, weights=weights / "hopper", start_pool=tmp_path / "pool")
    np.testing.assert_array_equal(again.reset(seed=0)[0], obs)  # drawn from the reset seed
    ended = np.zeros(3, dtype=bool)
    for _ in range(2):
        obs, _, terminated, truncated, info = envs.step(np.zeros((3, 3), np.float32))
        for i in np.flatnonzero(terminated | truncated):  # autoreset from the pool too
            assert np.isclose(rows, obs[i], atol=1e-6).all(1).any()
        ended |= terminated | truncated
    assert ended.all()  # short branched rollouts: H = max_episode_steps
    with pytest.raises(ValueError, match="holds hopper episodes, not halfcheetah's"):
        WorldModelVectorEnv(weights=weights / "halfcheetah", start_pool=tmp_path / "pool")
