"""Train SB3 SAC on a real MuJoCo task and save its actor at ladder stages (resumable).

    python examples/train_policy_ladder.py --task hopper --seed 0    # seed A: may feed world-model data
    python examples/train_policy_ladder.py --task hopper --seed 1    # seed B: the policies that get ranked

Writes ``<out>/step-<N>/actor.{safetensors,json}`` (:class:`policies.actor.MLPActor`, nothing
pickled) at each of ``--stages`` (step 0 is the untrained actor) and, every ``--chunk``
steps, a resume point (``sac.zip`` + ``replay.pkl``: SB3's own pickles of our own run,
read back only by this script). Re-running the same command continues where it stopped.
One thread per run: start one run per core.

``--ship NAME`` then copies the saved actors into ``cosmos_env/weights/policies/<task>/NAME/``
and measures each one's MuJoCo return over ``--eval-seeds`` seeds (the full 1000-step
episode) into ``NAME/ladder.json``; with ``--train-steps 0`` it ships what is saved so far.

    python examples/train_policy_ladder.py --task hopper --seed 1 --ship seed-b
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

STAGES = (0, 10_000, 20_000, 35_000, 50_000, 65_000, 85_000, 100_000, 130_000, 165_000, 200_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", type=int, nargs="+", default=list(STAGES), help="steps at which actors are saved")
    parser.add_argument("--chunk", type=int, default=5_000, help="steps between resume points")
    parser.add_argument("--out", help="default: runs/ladder/<task>/seed<seed>")
    parser.add_argument("--learning-starts", type=int, default=5_000)
    parser.add_argument("--ship", help="copy the actors into cosmos_env/weights/policies/<task>/SHIP with returns")
    parser.add_argument("--ship-root", help="where ladders are shipped (default: cosmos_env/weights/policies/<task>)")
    parser.add_argument("--eval-seeds", type=int, default=10)
    parser.add_argument("--train-steps", type=int, help="train at most this many more steps (default: to the end)")
    args = parser.parse_args()
    if args.train_steps != 0:
        train(args)
    if args.ship:
        ship(args)


def train(args: argparse.Namespace) -> None:

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
    resumed = (out / "sac.zip").is_file()
    if resumed:
        model = SAC.load(out / "sac.zip", env=env, device="cpu")  # our own checkpoint
        model.load_replay_buffer(out / "replay.pkl")
    else:
        model = SAC("MlpPolicy", env, seed=args.seed, device="cpu", learning_starts=args.learning_starts, verbose=0)
    stages = sorted(set(args.stages))
    marks = sorted(set(stages) | set(range(args.chunk, stages[-1] + 1, args.chunk)))
    extra = {"task": task.name, "gym_id": task.gym_id, "algo": "SAC", "seed": args.seed}
    stop = None if args.train_steps is None else model.num_timesteps + args.train_steps
    for mark in marks:
        if stop is not None and mark > stop:
            break
        if mark < model.num_timesteps or (resumed and mark == model.num_timesteps):  # saved before
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


def ship(args: argparse.Namespace) -> None:
    from cosmos_env.evaluate import mujoco_episodes
    from cosmos_env.report import POLICY_WEIGHTS
    from cosmos_env.tasks import load_task
    from policies.actor import MLPActor
    from worldmodels.io import atomic_write_bytes, atomic_write_json

    task = load_task(args.task)
    source = Path(args.out or f"runs/ladder/{task.name}/seed{args.seed}")
    target = Path(args.ship_root or POLICY_WEIGHTS / task.name) / args.ship
    seeds = list(range(args.eval_seeds))
    stages = []
    for actor_dir in sorted(source.glob("step-*")):
        MLPActor.load(actor_dir).save(target / actor_dir.name)  # with its SHA-256 in actor.json
        episodes = mujoco_episodes(
            MLPActor.load(target / actor_dir.name),
            task,
            seeds,
            task.max_episode_steps,
            frame_stride=task.max_episode_steps,
            video=False,
        )
        returns, lengths = episodes.returns("mujoco")
        stages.append(
            {
                "policy": actor_dir.name,
                "step": int(actor_dir.name.split("-")[1]),
                "return_mean": round(float(returns.mean()), 1),
                "return_std": round(float(returns.std()), 1),
                "length_mean": round(float(lengths.mean()), 1),
            }
        )
        print(
            f"{task.name} {args.ship} {actor_dir.name}: return {returns.mean():.1f} ± {returns.std():.1f}", flush=True
        )
    best = max(stages, key=lambda s: s["return_mean"])["policy"]
    command = f"python examples/train_policy_ladder.py --task {task.name} --seed {args.seed} --ship {args.ship}"
    over = (
        f"MuJoCo reset seeds {seeds[0]}..{seeds[-1]}, deterministic actions, "
        f"{task.max_episode_steps}-step episodes (fewer where the task terminates)"
    )
    record = {"task": task.gym_id, "algo": "SAC (stable-baselines3 defaults, learning_starts=5000)"}
    record |= {"training_seed": args.seed, "returns_over": over, "command": command, "best": best, "stages": stages}
    atomic_write_json(target / "ladder.json", record)
    rows = [
        f"| {s['policy']} | {s['step']:,} | {s['return_mean']} ± {s['return_std']} | {s['length_mean']} |"
        for s in stages
    ]
    card = [
        f"# SAC ladder: {task.gym_id}, training seed {args.seed} ({args.ship})",
        "",
        f"Actors of one SB3 SAC run saved at training stages (`policies.actor.MLPActor`: safetensors + JSON). "
        f"Return: mean ± std over {over}. Made by `{command}`.",
        "",
        "| policy | SAC steps | MuJoCo return | episode length |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    atomic_write_bytes(target / "README.md", "\n".join(card).encode())


if __name__ == "__main__":
    main()
