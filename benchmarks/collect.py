"""MuJoCo reference throughput: step + render (rgb, depth, segmentation) steps/s.

One process, then one process per core (each with its own reference, started together
behind a barrier), on the same machine in the same run. Prints the core count and the
speed-up last.

    python benchmarks/collect.py [--quick] [--json PATH] [--tasks hopper halfcheetah]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time

import numpy as np


def run_steps(task: str, steps: int, render: bool, seed: int = 0, barrier=None) -> tuple[int, float]:
    """Step (and render) ``steps`` times with uniform random actions; returns (steps, s)."""
    from cosmos_env.reference import MujocoReference

    ref = MujocoReference(task)
    ref.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = ref.action_space.low, ref.action_space.high
    actions = rng.uniform(low, high, (steps,) + low.shape).astype(np.float32)
    if render:
        ref.render()  # first render creates GL resources; not timed
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = ref.step(action)
        if render:
            ref.render()
        if terminated or truncated:
            ref.reset()
    elapsed = time.perf_counter() - start
    ref.close()
    return steps, elapsed


def _worker(task, steps, seed, barrier, results):
    results.put(run_steps(task, steps, True, seed, barrier))


def run_parallel(task: str, steps_per_process: int, processes: int) -> float:
    """Aggregate steps/s of ``processes`` references running at once."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(task, steps_per_process, i, barrier, results)) for i in range(processes)]
    for p in procs:
        p.start()
    out = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(s for s, _ in out) / max(t for _, t in out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a CPU run under a minute")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--tasks", nargs="+", default=["hopper", "halfcheetah"])
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    args = parser.parse_args()
    steps = 300 if args.quick else 3000

    results = {"cores": os.cpu_count(), "processes": args.processes, "steps_per_process": steps, "tasks": {}}
    for task in args.tasks:
        n, t_physics = run_steps(task, steps, render=False)
        n, t_render = run_steps(task, steps, render=True)
        single = n / t_render
        parallel = run_parallel(task, steps, args.processes)
        results["tasks"][task] = {
            "physics_only_steps_per_s": round(n / t_physics, 1),
            "step_render_steps_per_s_1_process": round(single, 1),
            f"step_render_steps_per_s_{args.processes}_processes": round(parallel, 1),
            "parallel_speedup": round(parallel / single, 2),
        }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print(
        f"\nMuJoCo reference step + render (rgb, depth, seg at 64x64); "
        f"{results['cores']} cores, {args.processes} processes, {steps} steps each"
    )
    print(f"{'task':14s} {'physics':>10s} {'1 process':>10s} {f'{args.processes} procs':>10s} {'speedup':>8s}")
    for task, r in results["tasks"].items():
        print(
            f"{task:14s} {r['physics_only_steps_per_s']:10.0f} {r['step_render_steps_per_s_1_process']:10.0f} "
            f"{r[f'step_render_steps_per_s_{args.processes}_processes']:10.0f} {r['parallel_speedup']:7.2f}x"
        )


if __name__ == "__main__":
    main()
