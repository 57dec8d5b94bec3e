import json

import numpy as np
import pytest

from cosmos_env.cli import main
from cosmos_env.collect import collect
from cosmos_env.evaluate import mujoco_returns
from cosmos_env.tasks import load_task
from policies.actor import MLPActor
from policies.protocol import as_policy


@pytest.fixture(scope="module")
def starts(tmp_path_factory):
    root = tmp_path_factory.mktemp("starts") / "hopper"
    collect("hopper", steps=60, out=root, workers=1, progress=False)
    return root


def args(weights, out, data, *extra):
    return [
        "train", "stage=policy", "task=hopper", f"data={data}", f"out={out}", f"stage.weights={weights / 'hopper'}",
        "stage.num_envs=4", "stage.horizon=8", "stage.eval_every=32", "stage.eval_episodes=2", "train.progress=false",
        *extra,
    ]  # fmt: skip


def test_sac_in_imagination_evaluates_in_mujoco_and_resumes(weights, starts, tmp_path):
    out = tmp_path / "sac"
    sac = [
        "+stage.algo_kwargs.learning_starts=16",
        "+stage.algo_kwargs.batch_size=16",
        "+stage.algo_kwargs.buffer_size=500",
    ]
    assert main(args(weights, out, starts, "train.steps=64", *sac)) == 0
    rows = [json.loads(r) for r in (out / "eval.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in rows] == [32, 64]
    assert all(len(r["mujoco_returns"]) == 2 and np.isfinite(r["mujoco_return"]) for r in rows)
    assert rows[1]["train_episodes"] == (64 - 32) // 8  # 4 envs, horizon 8: 4 episodes per 32 steps
    # the saved actor is the policy that was judged: the same MuJoCo returns, recomputed
    actor = as_policy(out / "actor")
    assert isinstance(actor, MLPActor) and actor.config.extra["step"] == 64
    again = mujoco_returns(actor, load_task("hopper"), [1_000_000, 1_000_001])
    np.testing.assert_allclose(again, rows[1]["mujoco_returns"], rtol=1e-6)
    assert list((out / "tb").rglob("events.out.tfevents*"))
    # a longer run of the same command resumes from the checkpoint (after a kill, too)
    assert main(args(weights, out, starts, "train.steps=96", *sac)) == 0
    rows = [json.loads(r) for r in (out / "eval.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in rows] == [32, 64, 96]
    assert json.loads((out / "checkpoint" / "state.json").read_text())["num_timesteps"] == 96


def test_ppo_actor_exports_the_mean_action_clipped(weights, starts, tmp_path):
    out = tmp_path / "ppo"
    ppo = [
        "stage.algo=ppo",
        "+stage.algo_kwargs.n_steps=8",
        "+stage.algo_kwargs.batch_size=16",
        "stage.real_starts=false",
    ]
    assert main(args(weights, out, starts, "train.steps=32", *ppo)) == 0
    from stable_baselines3 import PPO

    model = PPO.load(out / "checkpoint" / "model.zip", device="cpu")  # this test's own file
    obs = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32) * 3
    expected = np.clip(model.predict(obs, deterministic=True)[0], -1, 1)
    actor = MLPActor.load(out / "actor")
    assert actor.config.activation == "tanh" and actor.config.output == "clip"
    np.testing.assert_allclose(actor.act(obs), expected, atol=1e-5)


def test_bad_policy_settings_are_named(weights, starts, tmp_path):
    assert main(args(weights, tmp_path / "a", starts, "stage.algo=dqn")) == 2
    assert main(args(weights, tmp_path / "b", tmp_path / "none", "train.steps=8")) == 2  # real starts, no dataset
    assert main(args(weights, tmp_path / "c", starts, "train.steps=8", "+stage.algo_kwargs.not_a_field=1")) == 2


def test_dyna_loop_grows_real_data_fine_tunes_predict_and_resumes(weights, tmp_path):
    out = tmp_path / "dyna"
    sac = [
        "+stage.algo_kwargs.learning_starts=8",
        "+stage.algo_kwargs.batch_size=8",
        "+stage.algo_kwargs.buffer_size=200",
    ]
    dyna = ["stage.real_steps=60", "stage.round_real_steps=30", "stage.finetune_steps=2", "train.steps=32", *sac]
    assert main(args(weights, out, "unused", "stage.eval_every=16", *dyna)) == 0
    rows = [json.loads(r) for r in (out / "policy" / "eval.jsonl").read_text().splitlines()]
    assert [(r["round"], r["steps"]) for r in rows] == [(0, 16), (1, 32)]
    assert 60 <= rows[1]["real_steps"] and 30 <= rows[0]["real_steps"] < rows[1]["real_steps"]
    from cosmos_env.data import EpisodeDataset
    from worldmodels.checkpoint import read_config

    assert EpisodeDataset(out / "real").num_steps == rows[1]["real_steps"]
    for k in (0, 1):  # each round's Predict was fine-tuned on the real data of its time
        record = read_config(out / f"round-{k:03d}" / "world" / "predict")["extra"]
        assert record["data"] == str(out / "real") and record["step"] == 2
    before = (out / "policy" / "eval.jsonl").read_text()
    assert main(args(weights, out, "unused", "stage.eval_every=16", *dyna)) == 0  # done: nothing more runs
    assert (out / "policy" / "eval.jsonl").read_text() == before


def test_dyna_real_transitions_join_the_replay_buffer_once(weights, tmp_path):
    out = tmp_path / "dyna_real"
    sac = [f"+stage.algo_kwargs.{k}" for k in ("learning_starts=8", "batch_size=8", "buffer_size=400")]
    dyna = ["stage.real_steps=60", "stage.round_real_steps=30", "stage.finetune_steps=2", "stage.real_transitions=true"]
    assert main(args(weights, out, "unused", "stage.eval_every=16", "train.steps=32", *dyna, *sac)) == 0
    from stable_baselines3 import SAC

    from cosmos_env.data import EpisodeDataset
    from policies.sb3 import real_transitions

    state = json.loads((out / "policy" / "checkpoint" / "state.json").read_text())
    real = real_transitions(out / "real")
    assert len(real["reward"]) == EpisodeDataset(out / "real").num_steps
    held = state["real_transitions"]
    assert len(real["reward"]) - 4 < held <= len(real["reward"]) and held % 4 == 0  # rows of 4 envs
    model = SAC.load(out / "policy" / "checkpoint" / "model.zip", device="cpu")  # this test's own file
    model.load_replay_buffer(out / "policy" / "checkpoint" / "replay.pkl")
    buffer = model.replay_buffer
    stored = buffer.observations[: buffer.pos].reshape(-1, real["obs"].shape[1])
    rows = {tuple(r) for r in stored.astype(np.float32)}
    assert all(tuple(r) in rows for r in real["obs"][:held])  # each real start is there
    # and only once, beside the imagined ones (up to 32; SB3 checkpoints in a callback before it
    # stores that step's transition, so each of the two rounds' resumes misses one row of 4)
    assert 24 <= buffer.pos * 4 - held <= 32
    assert main(args(weights, tmp_path / "ppo", "unused", "stage.algo=ppo", *dyna)) == 2  # needs an off-policy algo
