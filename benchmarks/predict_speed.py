"""Imagined steps/s of a world model against the MuJoCo reference, in one run.

An imagined step is what a pixel env does per step: Predict samples the next latent
frame (1 or 4 sampler steps) and the tokenizer decodes it to RGB. Measured at several
batch sizes (each imagined step advances every env in the batch); the MuJoCo reference
is one env stepping and rendering (rgb, depth, segmentation). Ratios are imagined
steps/s over MuJoCo's.

    python benchmarks/predict_speed.py --task hopper [--weights DIR] [--device cuda] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def mujoco_steps_per_s(task: str, steps: int) -> float:
    from cosmos_env.reference import MujocoReference

    with MujocoReference(task) as ref:
        ref.reset(seed=0)
        ref.render()
        actions = (
            np.random.default_rng(0)
            .uniform(ref.action_space.low, ref.action_space.high, (steps,) + ref.action_space.shape)
            .astype(np.float32)
        )
        start = time.perf_counter()
        for a in actions:
            ref.step(a)
            ref.render()
        return steps / (time.perf_counter() - start)


def imagined_steps_per_s(model, batch: int, sampler_steps: int, iters: int, decode: bool) -> float:
    from worldmodels.sampler import SamplingConfig

    device = model.device
    cfg = model.predict.config
    res = model.tokenizer.config.resolution
    rgb = torch.randint(0, 256, (batch, res, res, 3), dtype=torch.uint8, device=device)
    history = model.start(rgb, torch.zeros(batch, cfg.obs_dim, device=device))
    action = torch.zeros(batch, cfg.action_dim, device=device)
    sampling = SamplingConfig(steps=sampler_steps)

    def step(history):
        history = model.step(history, action, sampling).history  # with the critic's judgement, as the env steps
        if decode:
            model.decode_latest(history)
        return history

    history = step(history)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        history = step(history)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * iters / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="world model directory (default: the shipped one)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--quick", action="store_true", help="a CPU run under a minute")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()

    from cosmos_env.shipped import weights_dir
    from worldmodels.world_model import WorldModel

    weights = Path(args.weights) if args.weights else weights_dir(args.task)
    model = WorldModel.from_pretrained(weights, device=args.device)
    batches = args.batches or ([1, 64] if args.quick else [1, 64, 1024])
    iters = 3 if args.quick else 10
    reference = mujoco_steps_per_s(args.task, 100 if args.quick else 1000)
    rows = []
    for batch in batches:
        for sampler_steps in (1, 4):
            for decode in (False, True):
                try:
                    rate = imagined_steps_per_s(model, batch, sampler_steps, iters, decode)
                except torch.OutOfMemoryError:
                    rate = float("nan")
                rows.append(
                    {
                        "batch": batch,
                        "sampler_steps": sampler_steps,
                        "decode": decode,
                        "steps_per_s": rate,
                        "ratio_to_mujoco": rate / reference,
                    }
                )
    results = {
        "task": args.task,
        "device": args.device,
        "weights": str(weights),
        "threads": torch.get_num_threads(),
        "mujoco_step_render_per_s": reference,
        "imagined": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{args.task} on {args.device} ({torch.get_num_threads()} threads); "
        f"MuJoCo step+render: {reference:.0f} steps/s (1 env)"
    )
    print(f"{'batch':>6s} {'sampler':>7s} {'decode':>6s} {'steps/s':>10s} {'x MuJoCo':>9s}")
    for r in rows:
        print(
            f"{r['batch']:6d} {r['sampler_steps']:7d} {str(r['decode']):>6s} "
            f"{r['steps_per_s']:10.0f} {r['ratio_to_mujoco']:9.2f}"
        )


if __name__ == "__main__":
    main()
