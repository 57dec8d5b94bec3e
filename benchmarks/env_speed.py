"""Imagined env steps/s through ``step()`` against MuJoCo's in gymnasium's own vector envs.

For each number of envs and observation mode, the batched imagined env
(:class:`cosmos_env.vector.WorldModelVectorEnv`) is stepped with random actions, and so is
``gym.make_vec(<MuJoCo task>, vectorization_mode="sync")`` on the same machine: state
observations alone, and pixels with ``render()`` every step (gymnasium's default
renderer at the task's resolution). Env steps/s = envs x steps / seconds; the ratio is
imagined over MuJoCo, measured in the same run. ``--versus DIR`` steps a second world
model beside the first at each setting (e.g. v2 against v1) and prints its speed-up: the
two are timed in ``--rounds`` interleaved blocks of ``--steps`` (A B, B A, ...), and the
speed-up is the geometric mean of the per-round ratios with a ~95% interval paired by
round (this machine's speed drifts by tens of percent within minutes; a sequential A-then-B
timing carries that drift into the ratio).
``--no-critic`` steps both with ``critic=False`` (the rules judge alone; no Reason pass).
Finished envs reset inside ``step()`` (and their count is printed): two models that end
episodes at different times then pay for different numbers of MuJoCo resets and context
encodings. ``--no-autoreset`` steps with ``autoreset_mode=DISABLED`` (an ended episode
steps on), so the timed steps are the world models' steps alone.

    python benchmarks/env_speed.py --task hopper [--weights DIR] [--versus DIR] [--no-critic]
        [--no-autoreset] [--steps S] [--rounds R] [--device cuda] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def imagined_env(
    weights: Path | None,
    task: str,
    n: int,
    obs_mode: str,
    device: str,
    critic: bool = True,
    autoreset: bool = True,
):
    """``n`` batched imagined envs, reset from seed 0 and stepped twice (warm-up)."""
    from gymnasium.vector import AutoresetMode

    from cosmos_env.vector import WorldModelVectorEnv

    env = WorldModelVectorEnv(
        num_envs=n,
        task=task,
        weights=weights,
        obs_mode=obs_mode,
        device=device,
        critic=critic,
        autoreset_mode=AutoresetMode.SAME_STEP if autoreset else AutoresetMode.DISABLED,
    )
    env.reset(seed=0)
    for a in np.random.default_rng(1).uniform(-1, 1, (2, *env.action_space.shape)).astype(np.float32):
        env.step(a)
    return env


def timed_block(env, actions: np.ndarray, device: str) -> tuple[float, int]:
    """(seconds, episodes ended) of stepping ``env`` through ``actions`` (S, N, A)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    ended = 0
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        ended += int((terminated | truncated).sum())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, ended


def interleaved_rates(envs: list, steps: int, rounds: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Env steps/s (E, R) and episodes ended (E,) of E envs timed in ``rounds`` blocks of
    ``steps``, interleaved (A B, then B A, ...) with the same actions, so a machine whose
    speed drifts slows every env alike."""
    n = envs[0].num_envs
    shape = (rounds, steps, *envs[0].action_space.shape)
    actions = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    seconds, ended = np.zeros((len(envs), rounds)), np.zeros(len(envs), dtype=int)
    for r in range(rounds):
        order = range(len(envs)) if r % 2 == 0 else reversed(range(len(envs)))
        for i in order:
            seconds[i, r], e = timed_block(envs[i], actions[r], device)
            ended[i] += e
    return n * steps / seconds, ended


def speedup_interval(rates: np.ndarray, versus_rates: np.ndarray) -> tuple[float, float, float]:
    """Speed-up of ``versus`` over the first model, paired by round (R,): the geometric mean
    and a ~95% interval (NaN bounds for one round)."""
    from worldmodels.metrics import mean_interval

    logs = np.log(versus_rates / rates)
    mean, half = logs.mean(), mean_interval(torch.as_tensor(logs))
    return float(np.exp(mean)), float(np.exp(mean - half)), float(np.exp(mean + half))


def geometric_mean(x: np.ndarray) -> float:
    """Geometric mean of positive rates (R,): the right average of per-round speeds."""
    return float(np.exp(np.log(x).mean()))


def mujoco_rate(gym_id: str, n: int, pixels: bool, steps: int, size: int) -> float:
    import gymnasium as gym

    kwargs = dict(render_mode="rgb_array", width=size, height=size) if pixels else {}
    envs = gym.make_vec(gym_id, num_envs=n, vectorization_mode="sync", **kwargs)
    envs.reset(seed=0)
    actions = [envs.action_space.sample() for _ in range(steps + 1)]
    envs.step(actions[0])
    if pixels:
        envs.render()  # warm-up: the first render makes the GL context
    start = time.perf_counter()
    for a in actions[1:]:
        envs.step(a)
        if pixels:
            envs.render()
    seconds = time.perf_counter() - start
    envs.close()
    return n * steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="world model directory (default: the shipped one)")
    parser.add_argument("--versus", help="a second world model directory, timed beside the first")
    parser.add_argument("--num-envs", type=int, nargs="+", help="default 1 16 256 (and 1024 on CUDA)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, help="timed rounds, the models interleaved (default 3; 1 with --quick)")
    parser.add_argument("--no-critic", action="store_true", help="step the world models with critic=False")
    parser.add_argument("--no-autoreset", action="store_true", help="ended episodes step on: time no resets")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="a CPU run under a minute (1 and 16 envs, 5 steps)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()

    from cosmos_env.tasks import load_task

    task = load_task(args.task)
    counts = args.num_envs or (
        [1, 16] if args.quick else [1, 16, 256] + ([1024] if args.device.startswith("cuda") else [])
    )
    steps = 5 if args.quick else args.steps
    rounds = args.rounds or (1 if args.quick else 3)
    weights = Path(args.weights) if args.weights else None
    rows = []
    for n in counts:
        for mode in ("state", "pixels"):
            settings = (args.task, n, mode, args.device, not args.no_critic, not args.no_autoreset)
            envs = [imagined_env(weights, *settings)] + (
                [imagined_env(Path(args.versus), *settings)] if args.versus else []
            )
            rates, ended = interleaved_rates(envs, steps, rounds, args.device)
            for env in envs:
                env.close()
            mujoco_n = min(n, 16) if mode == "pixels" else n  # gymnasium renders one env at a time
            mujoco = mujoco_rate(task.gym_id, mujoco_n, mode == "pixels", steps, task.height)
            imagined = geometric_mean(rates[0])
            row = {
                "num_envs": n,
                "obs_mode": mode,
                "imagined_steps_per_s": imagined,
                "episodes_ended": int(ended[0]),
                "mujoco_num_envs": mujoco_n,
                "mujoco_steps_per_s": mujoco,
                "ratio": imagined / mujoco,
            }
            if args.versus:
                row["versus_steps_per_s"] = geometric_mean(rates[1])
                row["versus_episodes_ended"] = int(ended[1])
                row["speedup"], row["speedup_ci95_low"], row["speedup_ci95_high"] = speedup_interval(rates[0], rates[1])
            rows.append(row)
    results = {
        "task": args.task,
        "device": args.device,
        "weights": str(weights or "shipped"),
        "versus": args.versus,
        "critic": not args.no_critic,
        "autoreset": not args.no_autoreset,
        "steps": steps,
        "rounds": rounds,
        "rows": rows,
        "cpu_threads": torch.get_num_threads(),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{args.task}: env steps/s through step(), {args.device}, {rounds} x {steps} timed steps"
        f" (geometric mean over rounds); weights {results['weights']}"
        + ("" if results["critic"] else "; critic=False")
        + ("" if results["autoreset"] else "; no autoreset")
    )
    versus = f" {'versus':>10s} {'(ended)':>7s} {'speed-up':>8s} {'(~95%)':>13s}" if args.versus else ""
    head = f"{'envs':>6s} {'obs':>7s} {'imagined':>10s} {'(ended)':>7s} {'MuJoCo':>10s} {'(envs)':>6s} {'ratio':>7s}"
    print(head + versus)
    for r in rows:
        extra = (
            f" {r['versus_steps_per_s']:10.1f} {r['versus_episodes_ended']:7d} {r['speedup']:8.2f}"
            f" [{r['speedup_ci95_low']:.2f}, {r['speedup_ci95_high']:.2f}]"
            if args.versus
            else ""
        )
        print(
            f"{r['num_envs']:6d} {r['obs_mode']:>7s} {r['imagined_steps_per_s']:10.1f} {r['episodes_ended']:7d} "
            f"{r['mujoco_steps_per_s']:10.1f} {r['mujoco_num_envs']:6d} {r['ratio']:7.3f}{extra}"
        )
    if args.versus:
        print(f"versus: {args.versus}")


if __name__ == "__main__":
    main()
