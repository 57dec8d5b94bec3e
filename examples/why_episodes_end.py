"""Why imagined episodes end: one policy from several seeds, in MuJoCo and in imagination.

    python examples/why_episodes_end.py                       # Hopper's newest model, its best ladder policy
    python examples/why_episodes_end.py --policy DIR --seeds 4 --steps 300 --weights DIR

Each seed starts both worlds from the same state (``reset(seed=s)``) and runs the policy
closed loop in each. Printed per seed: each world's episode length and what ended it (the
healthy range its last observation left, by the task's rules, or the critic's call).
``ended.png`` plots the first two observation entries (Hopper, Walker2d: height z and torso
angle) over time, MuJoCo solid and imagined dashed, one colour a seed, the healthy bounds in
grey; ``ended.json`` holds the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cosmos_env.demo import best_ladder_policy
from cosmos_env.evaluate import make_paired_env, paired_rollout, variant_name
from cosmos_env.report import load_policy
from cosmos_env.vector import resolve_weights


def shown(path: str | Path) -> str:
    """A path as the record names it: relative to this folder where it lies below it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def plot(path: Path, mujoco: np.ndarray, imagined: np.ndarray, rules, title: str) -> None:
    """mujoco, imagined: (S, T + 1, D) observations (NaN after an episode's end) -> a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    bounds = (rules.z_range, rules.angle_range) if rules is not None else (None, None)
    for entry, (ax, label, bound) in enumerate(zip(axes, ("obs[0] (z)", "obs[1] (angle)"), bounds)):
        for s in range(len(mujoco)):
            ax.plot(mujoco[s, :, entry], color=f"C{s % 10}", lw=1)
            ax.plot(imagined[s, :, entry], color=f"C{s % 10}", lw=1, ls="--")
        for value in bound or ():
            if np.isfinite(value):
                ax.axhline(value, color="grey", lw=0.8)
        ax.set_ylabel(label)
    axes[0].set_title(title)
    axes[1].set_xlabel("step (solid: MuJoCo, dashed: imagined)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="a world model directory (default: the task's newest shipped one)")
    parser.add_argument(
        "--policy", default="best", help="an actor directory, 'best' (the shipped ladder's) or 'random'"
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1, all stepped in one batch")
    parser.add_argument("--steps", type=int, default=1000, help="the longest episode")
    parser.add_argument("--out", default="outputs/why_episodes_end")
    args = parser.parse_args()

    where = best_ladder_policy(args.task) if args.policy == "best" else args.policy
    env = make_paired_env(args.weights, args.task, num_envs=args.seeds)
    termination = env.termination_fn if env.task.terminates else "never"
    variant = variant_name(env.reward_fn, termination)
    policy = load_policy(where or "random", env.single_action_space)
    paired = paired_rollout(policy, env, range(args.seeds), args.steps, 0, args.steps, progress=True)
    rules = env.rules
    env.close()

    summary = paired.summary()
    rows = []
    for i, seed in enumerate(paired.seeds):
        length_mujoco = summary["mujoco"]["lengths"][i]
        length_imagined = summary["imagined"][variant]["lengths"][i]
        rows.append(
            {
                "seed": seed,
                "length_mujoco": length_mujoco,
                "length_imagined": length_imagined,
                "ended_mujoco": summary["mujoco"]["ended"][i],
                "ended_imagined": summary["imagined"][variant]["ended"][i],
            }
        )
        print(
            f"seed {seed}: MuJoCo {length_mujoco} steps ({rows[-1]['ended_mujoco']}), "
            f"imagined {length_imagined} ({rows[-1]['ended_imagined']})"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{env.task.gym_id}, {Path(where).name if where else 'random'}, judged {variant}"
    # the imagined rollout may run on for the other judge: cut it at this judge's end
    alive = paired.closed_loop.alive(termination)  # (S, T): obs[t + 1] came from a live step t
    shown_obs = np.concatenate([np.ones_like(alive[:, :1]), alive], 1)[..., None]
    imagined = np.where(shown_obs, paired.closed_loop.obs, np.nan)
    plot(out / "ended.png", paired.mujoco.obs, imagined, rules, title)
    record = {
        "task": args.task,
        "weights": shown(resolve_weights(args.weights, env.task)),
        "policy": shown(where) if where else "random",
        "judged_by": variant,
    }
    (out / "ended.json").write_text(json.dumps(record | {"seeds": rows}, indent=2) + "\n")
    lengths = np.array([[r["length_mujoco"], r["length_imagined"]] for r in rows])
    earlier = int((lengths[:, 1] < lengths[:, 0]).sum())
    print(f"wrote {out}/ended.png, ended.json")
    print(
        f"median length: MuJoCo {np.median(lengths[:, 0]):.0f}, imagined {np.median(lengths[:, 1]):.0f}; "
        f"imagined ended first on {earlier} of {len(rows)} seeds"
    )


if __name__ == "__main__":
    main()
