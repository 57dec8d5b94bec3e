"""Train SB3 SAC on a real MuJoCo task and save its actor at ladder stages (resumable).

    python examples/train_policy_ladder.py --task hopper --seed 0    # seed A: may feed world-model data
    python examples/train_policy_ladder.py --task hopper --seed 1    # seed B: the policies that get ranked

Writes ``<out>/step-<N>/actor.{safetensors,json}`` (:class:`policies.actor.MLPActor`, nothing
pickled) at each of ``--stages`` (step 0 is the untrained actor) and, every ``--chunk``
steps, a resume point (``sac.zip`` + ``replay.pkl``: SB3's own pickles of our own run,
read back only by this script). Re-running the same command continues where it stopped.
One thread per run: start one run per core.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

STAGES = (0, 5_000, 10_000, 20_000, 35_000, 50_000, 75_000, 100_000, 130_000, 165_000, 200_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", type=int, nargs="+", default=list(STAGES), help="steps at which actors are saved")
    parser.add_argument("--chunk", type=int, default=5_000, help="steps between resume points")
    parser.add_argument("--out", help="default: runs/ladder/<task>/seed<seed>")
    parser.add_argument("--learning-starts", type=int, default=5_000)
    args = parser.parse_args()

    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC

    from cosmos_env.tasks import load_task
    from policies.actor import save_sac_actor

    torch.set_num_threads(1)
    task = load_task(args.task)
    out = Path(args.out or f"runs/ladder/{task.name}/seed{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make(task.gym_id)
    if (out / "sac.zip").is_file():
        model = SAC.load(out / "sac.zip", env=env, device="cpu")  # our own checkpoint
        model.load_replay_buffer(out / "replay.pkl")
    else:
        model = SAC("MlpPolicy", env, seed=args.seed, device="cpu", learning_starts=args.learning_starts, verbose=0)
    stages = sorted(set(args.stages))
    marks = sorted(set(stages) | set(range(args.chunk, stages[-1] + 1, args.chunk)))
    extra = {"task": task.name, "gym_id": task.gym_id, "algo": "SAC", "seed": args.seed}
    for mark in marks:
        if mark < model.num_timesteps or (mark == 0 and (out / "step-00000000").is_dir()):
            continue
        if mark > model.num_timesteps:
            model.learn(total_timesteps=mark - model.num_timesteps, reset_num_timesteps=False, progress_bar=True)
        if mark in stages:
            save_sac_actor(model, out / f"step-{mark:08d}", extra={**extra, "step": mark})
        tmp = out / "sac.tmp.zip"
        model.save(tmp)
        model.save_replay_buffer(out / "replay.tmp.pkl")
        os.replace(out / "replay.tmp.pkl", out / "replay.pkl")
        os.replace(tmp, out / "sac.zip")
        (out / "progress.json").write_text(json.dumps({"steps": model.num_timesteps, "stages": stages}) + "\n")
        print(f"{task.name} seed {args.seed}: {model.num_timesteps} steps", flush=True)


if __name__ == "__main__":
    main()
