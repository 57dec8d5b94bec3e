"""What Transfer buys: a pixel policy trained on Transfer-randomised frames against one trained
on canonical frames, judged in MuJoCo under looks neither saw.

Demonstrations of a good actor (the best of the task's shipped seed-A ladder) are collected
in MuJoCo with their frames, depth and segmentation. Two pixel BC policies are trained on
them alike but for the frames (:class:`policies.stages.BCStage`): ``canonical`` (the frames
as rendered) and ``transfer`` (each clip re-drawn by Transfer in a random train-range style).
Both are judged in MuJoCo from the same reset seeds, each seed in the same look for both:

* ``canonical``: the task as gymnasium draws it;
* ``train styles``: random styles from the ranges Transfer was trained on;
* ``held-out styles``: colours and light outside those ranges (:func:`cosmos_env.styles.random_style`).

Figures: mean return per policy and look with a ~95% interval over seeds, and the paired
gain of ``transfer`` over ``canonical`` per look (a gain whose interval holds 0 is a tie).

    python benchmarks/style_robustness.py --task hopper [--transfer DIR] [--demo-episodes 20]
        [--bc-steps 3000] [--seeds 10] [--out runs/style_robustness] [--quick] [--json PATH]

Every phase resumes (collection, both BC runs); ``--quick`` uses toy budgets and, where no
Transfer model is given or shipped, a random-weight one: it checks the pipeline only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

EVAL_SEED = 5_000_000
"""Judged from MuJoCo reset seeds EVAL_SEED + i; the looks are drawn from seed EVAL_SEED + 1000 * look + i."""
LOOKS = ("canonical", "train", "held_out")


def transfer_dir(args: argparse.Namespace, task: Any, out: Path) -> Path:
    """``--transfer``, else the task's shipped Transfer, else (``--quick`` only) a random-weight one."""
    from cosmos_env.vector import resolve_weights

    if args.transfer:
        return Path(args.transfer)
    shipped = resolve_weights(None, task) / "transfer"
    if (shipped / "config.json").is_file():
        return shipped
    if not args.quick:
        raise SystemExit(
            f"no Transfer model shipped for {task.name}: give --transfer DIR (cosmos-env train stage=transfer)"
        )
    from worldmodels.checkpoint import save_pretrained
    from worldmodels.transfer import TRANSFER_SIZES, TransferConfig, TransferModel

    random = out / "random_transfer"
    if not (random / "config.json").is_file():
        torch.manual_seed(0)
        save_pretrained(TransferModel(TransferConfig(**TRANSFER_SIZES["tiny"])), random)
    return random


def train_bc(data: Path, out: Path, transfer: Path | None, args: argparse.Namespace) -> Path:
    """Pixel BC on ``data`` (frames restyled by ``transfer`` when given), resumed in ``out``."""
    from policies.stages import BCStage
    from worldmodels.stages import BCStageConfig
    from worldmodels.train import TrainConfig, train

    if (out / "model" / "config.json").is_file():
        return out / "model"
    torch.manual_seed(args.seed)
    stage = BCStage(BCStageConfig(obs="pixels", size=args.bc_size, transfer=transfer and str(transfer)), data, out)
    every = max(1, args.bc_steps // 4)
    config = TrainConfig(
        out=str(out),
        steps=args.bc_steps,
        batch_size=args.batch_size,
        val_every=every,
        ckpt_every=every,
        ema=0.99,
        progress=not args.quiet,
        seed=args.seed,
    )
    return train(stage, config)


def looks(look: str, n: int) -> list[np.ndarray | None]:
    """The style of each of ``n`` seeds under ``look``."""
    from cosmos_env.styles import random_style

    if look == "canonical":
        return [None] * n
    base = EVAL_SEED + 1000 * LOOKS.index(look)
    return [random_style(np.random.default_rng(base + i), look) for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--transfer", help="a Transfer model directory (default: the task's shipped one)")
    parser.add_argument("--demo-actor", help="an actor directory (default: the best seed-A ladder actor)")
    parser.add_argument("--demo-episodes", type=int, default=20)
    parser.add_argument("--bc-steps", type=int, default=3000)
    parser.add_argument("--bc-size", default="small")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=10, help="MuJoCo episodes per policy and look")
    parser.add_argument("--horizon", type=int, help="steps per judged episode at most (default: the task's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/style_robustness")
    parser.add_argument("--quick", action="store_true", help="toy budgets: a CPU run under a minute")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.demo_episodes, args.bc_steps, args.bc_size, args.batch_size = 1, 8, "tiny", 8
        args.seeds, args.horizon, args.quiet = 2, 20, True
        args.out = str(Path(args.out) / "quick")

    from cosmos_env.collect import collect
    from cosmos_env.evaluate import mujoco_pixel_returns
    from cosmos_env.reference import MujocoReference
    from cosmos_env.report import best_ladder_actor
    from cosmos_env.tasks import load_task
    from policies.bc import BCPolicy
    from policies.dyna import NoisyActorBehaviour
    from worldmodels.metrics import mean_interval, paired_gain

    task = load_task(args.task)
    if args.quick:  # short demo episodes
        task = dataclasses.replace(task, max_episode_steps=40)
    out = Path(args.out) / task.name
    transfer = transfer_dir(args, task, out)
    actor = args.demo_actor or best_ladder_actor(task.name, "seed-a")
    with MujocoReference(task) as ref:
        low, high = ref.action_space.low, ref.action_space.high
    demos = out / "demos"
    steps = args.demo_episodes * task.max_episode_steps
    collect(
        task,
        steps,
        demos,
        NoisyActorBehaviour(actor, low, high, 0.0),
        seed=args.seed,
        shard_steps=steps,
        workers=1,
        progress=not args.quiet,
    )
    policies = {
        "canonical": train_bc(demos, out / "bc_canonical", None, args),
        "transfer": train_bc(demos, out / "bc_transfer", transfer, args),
    }
    seeds = [EVAL_SEED + i for i in range(args.seeds)]
    returns: dict[str, dict[str, np.ndarray]] = {name: {} for name in policies}
    for look in LOOKS:
        styles = looks(look, len(seeds))
        for name, path in policies.items():
            returns[name][look] = mujoco_pixel_returns(BCPolicy.load(path), task, seeds, styles, args.horizon)
            print(f"{task.name} {name} under {look}: {returns[name][look].mean():.1f}", flush=True)
    rows = []
    for look in LOOKS:
        row: dict[str, Any] = {"look": look}
        for name in policies:
            r = returns[name][look]
            row[name] = {
                "returns": [float(x) for x in r],
                "mean": float(r.mean()),
                "ci95_half_width": mean_interval(torch.as_tensor(r)),
            }
        if len(seeds) > 1:
            gain = paired_gain(torch.as_tensor(returns["transfer"][look]), torch.as_tensor(returns["canonical"][look]))
            row["gain_transfer_vs_canonical"] = dict(zip(("mean", "ci95_half_width"), gain))
        rows.append(row)
    report = {
        "task": task.gym_id,
        "demo_actor": actor,
        "transfer": str(transfer),
        "eval_seeds": seeds,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "quiet")},
        "looks": rows,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{task.gym_id}: pixel BC from {args.demo_episodes} demos, MuJoCo return over {len(seeds)} seeds per look")
    print("| look | canonical frames | Transfer-randomised | gain (paired) |\n|---|---|---|---|")
    for row in rows:
        g = row.get("gain_transfer_vs_canonical")
        cells = [f"{row[n]['mean']:.1f} ± {row[n]['ci95_half_width']:.1f}" for n in ("canonical", "transfer")]
        gain = f"{g['mean']:+.1f} ± {g['ci95_half_width']:.1f}" if g else ""
        print(f"| {row['look']} | {cells[0]} | {cells[1]} | {gain} |")


if __name__ == "__main__":
    main()
