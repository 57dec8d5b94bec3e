"""Your own task: a MuJoCo task we do not ship (Walker2d-v5) from data to ``gym.make``.

    python examples/own_task.py                      # CPU, small models: about an hour and a half
    python examples/own_task.py --tiny               # the whole path in about a minute (smoke test)

Runs the same ``cosmos-env`` commands you would type (each prints as it runs; each
resumes if killed and re-run):

    cosmos-env collect task=walker2d steps=20000 out=ROOT/data steps_after_termination=100
    cosmos-env train stage=tokenizer task=walker2d data=ROOT/data out=ROOT/tokenizer
    cosmos-env train stage=predict   task=walker2d data=ROOT/data out=ROOT/predict stage.tokenizer=ROOT/tokenizer/model
    cosmos-env train stage=reason    task=walker2d data=ROOT/data out=ROOT/reason \\
        stage.tokenizer=ROOT/tokenizer/model stage.predict=ROOT/predict/model
    cosmos-env export task=walker2d tokenizer=ROOT/tokenizer/model predict=ROOT/predict/model \\
        reason=ROOT/reason/model out=ROOT/world_model

then ``gym.make("cosmos_env/WorldModel-v0", weights="ROOT/world_model")`` and one episode
beside MuJoCo's Walker2d-v5 from the same reset seed.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

import cosmos_env  # noqa: F401  (registers cosmos_env/WorldModel-v0)


def cosmos_env_command(*args: str) -> None:
    command = [sys.executable, "-m", "cosmos_env", *args]
    print("$ cosmos-env " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="walker2d", help="a task under cosmos_env/conf/task/")
    parser.add_argument("--root", default="runs/own_task", help="where data, runs and the world model go")
    parser.add_argument("--tiny", action="store_true", help="tiny data and models: checks the path, learns nothing")
    parser.add_argument("--collect-steps", type=int, default=20_000)
    parser.add_argument("--tokenizer-steps", type=int, default=2000)
    parser.add_argument("--predict-steps", type=int, default=2000)
    parser.add_argument("--reason-steps", type=int, default=1000)
    args = parser.parse_args()
    if args.tiny:
        args.collect_steps, args.tokenizer_steps, args.predict_steps, args.reason_steps = 300, 4, 4, 4
    root = Path(args.root)
    # every training stage: model size, and for --tiny small batches and a bigger held-out share of 3 episodes
    stage_args = (
        ["stage.size=tiny", "val_fraction=0.2", "train.batch_size=4", "train.val_batches=1", "train.progress=false"]
        if args.tiny
        else ["stage.size=small"]
    )

    cosmos_env_command(
        "collect",
        f"task={args.task}",
        f"steps={args.collect_steps}",
        f"out={root}/data",
        "steps_after_termination=100",
        f"shard_steps={min(1000, args.collect_steps)}",
    )
    data = [f"task={args.task}", f"data={root}/data"]
    cosmos_env_command(
        "train",
        "stage=tokenizer",
        *data,
        f"out={root}/tokenizer",
        f"train.steps={args.tokenizer_steps}",
        *([] if args.tiny else ["train.batch_size=8"]),
        *stage_args,
    )
    cosmos_env_command(
        "train",
        "stage=predict",
        *data,
        f"out={root}/predict",
        f"stage.tokenizer={root}/tokenizer/model",
        f"train.steps={args.predict_steps}",
        *stage_args,
    )
    cosmos_env_command(
        "train",
        "stage=reason",
        *data,
        f"out={root}/reason",
        f"stage.tokenizer={root}/tokenizer/model",
        f"stage.predict={root}/predict/model",
        f"train.steps={args.reason_steps}",
        *(["stage.imagined_clips=32"] if args.tiny else []),
        *stage_args,
    )
    cosmos_env_command(
        "export",
        f"task={args.task}",
        f"tokenizer={root}/tokenizer/model",
        f"predict={root}/predict/model",
        f"reason={root}/reason/model",
        f"out={root}/world_model",
    )

    # the trained world model is now an env like any other
    env = gym.make(
        "cosmos_env/WorldModel-v0", weights=f"{root}/world_model", max_episode_steps=50 if args.tiny else 1000
    )
    mujoco_env = gym.make(env.unwrapped.task.gym_id)
    obs, _ = env.reset(seed=0)
    mujoco_obs, _ = mujoco_env.reset(seed=0)
    print(
        f"cosmos_env/WorldModel-v0 on {env.unwrapped.task.gym_id}: starts where MuJoCo does: "
        f"{np.array_equal(obs, mujoco_obs)}"
    )
    env.action_space.seed(0)
    returns, plausibility, steps = [0.0, 0.0], [], 0
    for steps in range(1, 51):  # noqa: B007 (the count is printed after the loop)
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        mujoco_obs, mujoco_reward, mujoco_terminated, _, _ = mujoco_env.step(action)
        returns[0] += reward
        returns[1] += float(mujoco_reward)
        plausibility.append(info["plausibility"])
        if terminated or truncated or mujoco_terminated:
            break
    print(
        f"{steps} steps of random actions: return imagined {returns[0]:.2f}, MuJoCo {returns[1]:.2f}; "
        f"mean plausibility {np.mean(plausibility):.3f}"
    )
    env.close()
    mujoco_env.close()


if __name__ == "__main__":
    main()
