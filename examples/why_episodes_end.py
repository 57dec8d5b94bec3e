"""Why imagined episodes end: one policy from several seeds, in MuJoCo and in imagination.

    python examples/why_episodes_end.py                       # Hopper's newest model, its best ladder policy
    python examples/why_episodes_end.py --after 250           # both worlds from MuJoCo's step 250, in motion
    python examples/why_episodes_end.py --policy DIR --seeds 4 --steps 300 --weights DIR

Each seed starts both worlds from the same state and runs the policy closed loop in each:
from ``reset(seed=s)``, or with ``--after W`` from where the policy stands in MuJoCo after W
steps (the imagined env starts from MuJoCo's last frames, observations and actions: its
``reset(options={"rgb", "obs", "actions"})`` clip start). Does the imagined episode end
because it never reaches a state, or because it cannot hold one? Printed per seed: each
world's episode length from the start and what ended it (the healthy range its last
observation left, by the task's rules, or the critic's call). ``ended.png`` plots the first
two observation entries (Hopper, Walker2d: height z and torso angle) over time, MuJoCo
solid and imagined dashed, one colour a seed, the healthy bounds in grey; ``ended.json``
holds the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cosmos_env.demo import best_ladder_policy
from cosmos_env.evaluate import make_paired_env, reset_policy, variant_name, why_ended
from cosmos_env.reference import MujocoReference
from cosmos_env.report import load_policy
from cosmos_env.vector import WorldModelVectorEnv, resolve_weights


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


def in_mujoco(policy, task, seeds: list[int], after: int, steps: int, context: int) -> tuple[dict, np.ndarray, list]:
    """The policy in MuJoCo from each ``reset(seed)``: the clip of its last ``context`` frames
    up to step ``after`` (rgb (S, K, H, W, 3), obs (S, K, D), actions (S, K-1, A)), the
    observations from there on (S, steps + 1, D; NaN after the episode's end) and the
    episode's length from there. Raises ValueError naming a seed whose episode ends first."""
    clips, tails, lengths = [], [], []
    with MujocoReference(task) as ref:
        a_dim = ref.action_space.shape[0]
        for seed in seeds:
            reset_policy(policy, [seed])
            obs, _ = ref.reset(seed=seed)
            frames, observations, actions = [ref.render().rgb], [obs], []
            for t in range(after):
                actions.append(np.asarray(policy.act(obs[None].astype(np.float32)))[0])
                obs, _, terminated, truncated, _ = ref.step(actions[-1])
                if terminated or truncated:
                    raise ValueError(f"seed {seed}: MuJoCo's episode ended at step {t + 1}, before --after {after}")
                frames.append(ref.render().rgb)
                observations.append(obs)
            tail = np.full((steps + 1, obs.shape[0]), np.nan)
            tail[0], length = obs, steps
            for t in range(steps):
                obs, _, terminated, truncated, _ = ref.step(np.asarray(policy.act(obs[None].astype(np.float32)))[0])
                tail[t + 1] = obs
                if terminated or truncated:
                    length = t + 1
                    break
            k = min(context, len(frames))  # the clip: its last k frames and the k - 1 actions between them
            between = np.array(actions[len(actions) - k + 1 :], np.float32).reshape(k - 1, a_dim)
            clips.append((np.stack(frames[-k:]), np.stack(observations[-k:]), between))
            tails.append(tail)
            lengths.append(length)
    rgb, obs, actions = (np.stack(parts) for parts in zip(*clips))
    return {"rgb": rgb, "obs": obs, "actions": actions}, np.stack(tails), lengths


def in_imagination(
    policy, env: WorldModelVectorEnv, seeds: list[int], clip: dict, steps: int
) -> tuple[np.ndarray, list, list]:
    """The policy in ``env`` from MuJoCo's ``clip``: observations (S, steps + 1, D; NaN after
    each episode's end), lengths and what ended each (``info["termination_reason"]``)."""
    obs, _ = env.reset(seed=seeds, options=clip)
    reset_policy(policy, seeds)
    trajectory = np.full((len(seeds), steps + 1, obs.shape[1]), np.nan)
    trajectory[:, 0] = obs
    lengths, reasons = [steps] * len(seeds), [f"ran all {steps} steps"] * len(seeds)
    running = np.ones(len(seeds), bool)
    for t in range(steps):
        obs, _, terminated, _, info = env.step(policy.act(obs.astype(np.float32)))
        trajectory[running, t + 1] = obs[running]
        for i in np.flatnonzero(terminated & running):
            lengths[i], reasons[i] = t + 1, info["termination_reason"][i].removeprefix("rules: ")
        running &= ~terminated
        if not running.any():
            break
    return trajectory, lengths, reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="a world model directory (default: the task's newest shipped one)")
    parser.add_argument(
        "--policy", default="best", help="an actor directory, 'best' (the shipped ladder's) or 'random'"
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1, all stepped in one batch")
    parser.add_argument("--after", type=int, default=0, help="start both worlds after W policy steps in MuJoCo")
    parser.add_argument("--steps", type=int, help="the longest episode from the start (default: to the time limit)")
    parser.add_argument("--out", default="outputs/why_episodes_end")
    args = parser.parse_args()

    where = best_ladder_policy(args.task) if args.policy == "best" else args.policy
    env = make_paired_env(args.weights, args.task, num_envs=args.seeds)
    limit = env.task.max_episode_steps
    args.steps = limit - args.after if args.steps is None else args.steps
    if args.after < 0 or args.steps < 1 or args.after + args.steps > limit or args.seeds < 1:
        parser.error(f"--after >= 0 and --steps >= 1 must add up to at most the time limit, {limit}; --seeds >= 1")
    variant = variant_name(env.reward_fn, env.termination_fn if env.task.terminates else "never")
    policy = load_policy(where or "random", env.single_action_space)
    seeds = list(range(args.seeds))
    clip, mujoco, length_mujoco = in_mujoco(policy, env.task, seeds, args.after, args.steps, env.model.context)
    imagined, length_imagined, ended_imagined = in_imagination(policy, env, seeds, clip, args.steps)
    rules = env.rules
    env.close()

    rows = []
    for i, seed in enumerate(seeds):
        rows.append(
            {
                "seed": seed,
                "length_mujoco": length_mujoco[i],
                "length_imagined": length_imagined[i],
                "ended_mujoco": why_ended(mujoco[i], length_mujoco[i], args.steps, rules),
                "ended_imagined": ended_imagined[i],
            }
        )
        print(
            f"seed {seed}: MuJoCo {length_mujoco[i]} steps ({rows[-1]['ended_mujoco']}), "
            f"imagined {length_imagined[i]} ({rows[-1]['ended_imagined']})"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = f", from MuJoCo's step {args.after}" if args.after else ""
    title = f"{env.task.gym_id}, {Path(where).name if where else 'random'}, judged {variant}{start}"
    plot(out / "ended.png", mujoco, imagined, rules, title)
    record = {
        "task": args.task,
        "weights": shown(resolve_weights(args.weights, env.task)),
        "policy": shown(where) if where else "random",
        "judged_by": variant,
        "after": args.after,
    }
    (out / "ended.json").write_text(json.dumps(record | {"seeds": rows}, indent=2) + "\n")
    lengths = np.array([[r["length_mujoco"], r["length_imagined"]] for r in rows])
    earlier = int((lengths[:, 1] < lengths[:, 0]).sum())
    print(f"wrote {out}/ended.png, ended.json")
    print(
        f"median length{start}: MuJoCo {np.median(lengths[:, 0]):.0f}, imagined {np.median(lengths[:, 1]):.0f}; "
        f"imagined ended first on {earlier} of {len(rows)} seeds"
    )


if __name__ == "__main__":
    main()
