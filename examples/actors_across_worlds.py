"""Reward per step of saved actors in MuJoCo and in world models, from the same reset seeds.

An actor that earns far more in imagination than in MuJoCo exploits its world model; a world
in which a good MuJoCo actor earns little has lost (or never had) what that actor does. Used
for the README's Dyna analysis::

    python examples/actors_across_worlds.py --task halfcheetah \\
        --actor dyna=runs/bench_policies/halfcheetah/dyna/policy/actor \\
        --actor model_free=runs/bench_policies/halfcheetah/model_free/actor \\
        --world halfcheetah-v3=cosmos_env/weights/halfcheetah-v3 \\
        --world round-9=runs/bench_policies/halfcheetah/dyna/round-009/world

Each figure is the return over an episode's first ``--steps`` steps (less where it ends
sooner) divided by ``--steps``, averaged over ``--seeds`` seeds (4000000, 4000001, ...: the
policy benchmark's evaluation seeds); imagined episodes are judged by the task's rules
(``critic=False``). Prints one row per actor, MuJoCo first, then each world.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def named(pairs: list[str], what: str) -> dict[str, str]:
    """``NAME=PATH`` arguments -> {name: path}; raises SystemExit naming a malformed one."""
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--{what} takes NAME=PATH, got {pair!r}")
        out[name] = path
    return out


def imagined_rewards(policy, weights: str, task: str, seeds: list[int], steps: int) -> np.ndarray:
    """(S,) return over the first ``steps`` steps (fewer where an episode ends) / ``steps``."""
    from gymnasium.vector import AutoresetMode

    from cosmos_env.vector import WorldModelVectorEnv

    env = WorldModelVectorEnv(
        num_envs=len(seeds),
        task=task,
        weights=weights,
        obs_mode="state",
        critic=False,
        autoreset_mode=AutoresetMode.DISABLED,
    )
    obs, _ = env.reset(seed=seeds)
    total, alive = np.zeros(len(seeds)), np.ones(len(seeds), dtype=bool)
    for _ in range(steps):
        obs, reward, terminated, *_ = env.step(policy.act(obs))
        total += np.where(alive, reward, 0.0)
        alive &= ~terminated
    env.close()
    return total / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--actor", action="append", required=True, help="NAME=DIR of a saved actor (repeat)")
    parser.add_argument("--world", action="append", required=True, help="NAME=DIR of a world model (repeat)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    from cosmos_env.evaluate import mujoco_returns
    from cosmos_env.tasks import load_task
    from policies.actor import MLPActor

    actors, worlds = named(args.actor, "actor"), named(args.world, "world")
    for name, path in {**actors, **worlds}.items():
        if not Path(path).is_dir():
            raise SystemExit(f"{name}: {path} is not a directory")
    task = load_task(args.task)
    seeds = [4_000_000 + i for i in range(args.seeds)]
    rows = {}
    for name, path in actors.items():
        policy = MLPActor.load(path)
        row = {"mujoco": mujoco_returns(policy, task, seeds, args.steps) / args.steps}
        for world, weights in worlds.items():
            row[world] = imagined_rewards(policy, weights, args.task, seeds, args.steps)
        rows[name] = {k: {"mean": float(v.mean()), "per_seed": v.tolist()} for k, v in row.items()}
    if args.json:
        Path(args.json).write_text(json.dumps({"task": args.task, "seeds": seeds, "steps": args.steps, "rows": rows}))
    print(f"{args.task}: reward per step over {args.steps} steps, {args.seeds} seeds")
    print("| actor | " + " | ".join(["MuJoCo", *worlds]) + " |")
    print("|---|" + "---|" * (len(worlds) + 1))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{cell['mean']:.2f}" for cell in row.values()) + " |")


if __name__ == "__main__":
    main()
