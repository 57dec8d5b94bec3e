"""Agents trained in imagination against model-free SAC and a random policy, judged in MuJoCo.

Each arm trains one policy (resumably, under ``--out/<task>/<arm>/``; a finished arm's
``result.json`` and ``actor/`` are all a rerun needs) and is judged by its MuJoCo return
from the same ``--eval-seeds`` reset seeds, full episodes:

* ``random``: uniform random actions (no training);
* ``model_free``: SB3 SAC on MuJoCo for ``--real-steps`` steps (:func:`policies.sb3.train_in_mujoco`);
* ``model_free_utd<N>``: the same with N gradient updates per real step (SB3's ``gradient_steps``;
  ``dyna`` makes ``--imagined-steps / --real-steps`` updates per real step);
* ``dyna``: the Dyna loop within ``--real-steps`` (:mod:`policies.dyna`): rounds of
  ``--round-steps`` real steps, Predict fine-tuned on all real data, SAC in imagination
  from real starts with ``--horizon``-step branched rollouts, ``--imagined-steps`` in all;
* ``dyna_real``: ``dyna`` with every real transition in SAC's replay buffer too
  (``stage.real_transitions``, MBPO's real data);
* the ablations, each ``dyna_real`` (the loop that works on both tasks) with one thing changed:
  ``one_shot``: the whole budget collected at once with random actions, one fine-tune, then
  all the imagined steps (one round); ``no_real_starts``: imagined episodes start from
  MuJoCo's reset states rather than real dataset rows; ``horizon_<H>``: H-step imagined
  episodes (``--horizon`` is the default's; MBPO's are 1 to 15).

Figures per arm: mean return with a ~95% interval over eval seeds, the paired gain
(same seeds) over ``random`` and over ``model_free``, real and imagined steps, training
wall-clock (summed over resumed invocations). A gain whose interval holds 0 is a tie.
``--out/<task>/curves.png`` plots each arm's MuJoCo checks while training against the real
steps spent by then.

    python benchmarks/policy_bench.py --task hopper [--arms random model_free dyna ...] [--real-steps 100000]
        [--imagined-steps 400000] [--weights DIR] [--out runs/bench_policies] [--quick] [--json PATH]

``--quick`` runs random, model-free and Dyna at toy budgets (a CPU run under a minute):
it checks the pipeline, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_ARMS = ("random", "model_free", "dyna", "dyna_real", "one_shot", "no_real_starts", "horizon_50")
EVAL_SEED = 4_000_000
"""Final MuJoCo judgements start from reset seeds EVAL_SEED + i: no training run evaluates there."""


def arm_config(arm: str, args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~worldmodels.stages.PolicyStageConfig` fields of ``arm`` (raises ValueError for an unknown arm)."""
    base = {
        "algo": "sac",
        "weights": args.weights,
        "num_envs": args.num_envs,
        "horizon": args.horizon,
        "eval_every": args.eval_every,
        "eval_episodes": args.train_eval_episodes,
        "eval_horizon": args.eval_horizon,
        "algo_kwargs": dict(args.algo_kwargs),
        "real_steps": args.real_steps,
        "round_real_steps": args.round_steps,
        "finetune_steps": args.finetune_steps,
    }
    if arm in ("random", "model_free", "dyna"):
        return base
    if arm.startswith("model_free_utd") and arm[14:].isdigit():
        return base | {"algo_kwargs": {**base["algo_kwargs"], "gradient_steps": int(arm[14:])}}
    recipe = base | {"real_transitions": True}  # dyna_real: what the ablations change one thing of
    if arm == "dyna_real":
        return recipe
    if arm == "one_shot":
        return recipe | {"round_real_steps": args.real_steps, "finetune_steps": args.finetune_steps * args.rounds}
    if arm == "no_real_starts":
        return recipe | {"real_starts": False}
    if arm.startswith("horizon_") and arm[8:].isdigit():
        return recipe | {"horizon": int(arm[8:])}
    raise ValueError(f"unknown arm {arm!r}; known: {', '.join(DEFAULT_ARMS)}, horizon_<H>, model_free_utd<N>")


def is_model_free(arm: str) -> bool:
    """Whether ``arm`` trains on MuJoCo alone (``model_free``, ``model_free_utd<N>``)."""
    return arm == "model_free" or arm.startswith("model_free_utd")


MODEL_FREE_IGNORES = ("weights", "horizon", "num_envs", "round_real_steps", "finetune_steps")
"""Settings of the imagined arms that model-free SAC never reads."""


def arm_key(arm: str, key: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's ``key`` (task, seed, budgets, stage fields) that ``arm``'s result
    depends on: a finished model-free arm is reused whatever the world model or imagined budget."""
    if not is_model_free(arm):
        return key
    config = {k: v for k, v in key["config"].items() if k not in MODEL_FREE_IGNORES}
    return {k: v for k, v in key.items() if k != "imagined_steps"} | {"config": config}


class WallClock:
    """Seconds spent training an arm, summed over invocations in a JSON file (``{"wall_s": ...}``)
    that a daemon thread rewrites every ``every`` seconds while the block runs, so a killed
    invocation loses at most that much of its time to the resumed one's total."""

    def __init__(self, path: Path, every: float = 60.0) -> None:
        self.path, self.every = path, every
        self.before = json.loads(path.read_text())["wall_s"] if path.is_file() else 0.0
        self._start: float | None = None
        self._end: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def total(self) -> float:
        """Seconds of earlier invocations plus this one's so far."""
        if self._start is None:
            return self.before
        return self.before + ((self._end or time.perf_counter()) - self._start)

    def _save(self) -> None:
        from worldmodels.io import atomic_write_json

        atomic_write_json(self.path, {"wall_s": round(self.total(), 1)})

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self._save()

    def __enter__(self) -> WallClock:
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end = time.perf_counter()
        self._stop.set()
        self._thread.join()
        self._save()


def train_arm(arm: str, args: argparse.Namespace, task: Any, out: Path) -> dict[str, Any]:
    """Train (or resume) one arm; returns its record: actor directory (None for random),
    real and imagined steps, training seconds."""
    from policies.dyna import dyna
    from policies.sb3 import train_in_mujoco
    from worldmodels.io import atomic_write_json
    from worldmodels.stages import PolicyStageConfig

    if arm == "random":
        return {"actor": None, "real_steps": 0, "imagined_steps": 0, "wall_s": 0.0}
    fields = arm_config(arm, args)
    config = PolicyStageConfig(**fields)
    key = {
        "task": task.name,
        "seed": args.seed,
        "real_steps": args.real_steps,
        "imagined_steps": args.imagined_steps,
        "config": fields,
    }
    done = out / "result.json"  # a finished arm: its actor is all the table needs (no SB3 checkpoint)
    if done.is_file() and arm_key(arm, (record := json.loads(done.read_text()))["key"]) == arm_key(arm, key):
        return {**record["result"], "actor": str(out / record["result"]["actor"])}
    with WallClock(out / "wall.json") as clock:  # a resumed arm adds its own seconds, a killed one kept its own
        if is_model_free(arm):
            last = train_in_mujoco(config, task, out, args.real_steps, args.seed, progress=not args.quiet)
            real, imagined = last["steps"], 0
        else:
            last = dyna(config, task, out, args.imagined_steps, args.seed, progress=not args.quiet)
            real, imagined = last["real_steps"], last["steps"]
    spent = clock.total()
    actor = str(Path(last["actor_dir"]).relative_to(out))  # relative: a carried arm works anywhere
    result = {"actor": actor, "real_steps": int(real), "imagined_steps": int(imagined), "wall_s": spent}
    atomic_write_json(done, {"key": key, "result": result})
    return {**result, "actor": last["actor_dir"]}


def judge(actor: str | None, task: Any, seeds: list[int], horizon: int | None) -> np.ndarray:
    """(S,) MuJoCo returns of a saved actor (None: uniform random actions) from ``seeds``."""
    from cosmos_env.evaluate import mujoco_returns
    from policies.actor import MLPActor
    from policies.protocol import as_policy

    if actor is None:
        from cosmos_env.reference import MujocoReference

        with MujocoReference(task) as ref:
            space = ref.action_space
        rng = np.random.default_rng(0)
        policy = as_policy(lambda obs: rng.uniform(space.low, space.high, (len(obs), *space.shape)).astype(np.float32))
    else:
        policy = MLPActor.load(actor)
    return mujoco_returns(policy, task, seeds, horizon)


def training_curve(arm: str, out: Path) -> list[dict[str, Any]]:
    """An arm's MuJoCo checks while it trained (``eval.jsonl`` rows; [] for random), each with
    ``real_steps``: the MuJoCo steps spent by then."""
    from policies.sb3 import read_eval_log

    if arm == "random":
        return []
    rows = read_eval_log(out / (arm if is_model_free(arm) else f"{arm}/policy") / "eval.jsonl")
    return [r | {"real_steps": r["steps"] if is_model_free(arm) else r["real_steps"]} for r in rows]


def plot_curves(results: dict[str, dict[str, Any]], out: Path, title: str) -> Path:
    """``out/curves.png``: each arm's MuJoCo return (mean ± std over its check episodes) against
    the real steps it had spent, random as a line; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, r in results.items():
        if arm == "random":
            ax.axhline(r["return_mean"], color="grey", ls="--", lw=1, label="random")
            continue
        rows = training_curve(arm, out)
        if not rows:
            continue
        x = np.array([row["real_steps"] for row in rows])
        y, sd = (np.array([row[k] for row in rows]) for k in ("mujoco_return", "mujoco_return_std"))
        (line,) = ax.plot(x, y, marker="o", ms=3, label=f"{arm} (final {r['return_mean']:.0f})")
        ax.fill_between(x, y - sd, y + sd, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("real MuJoCo steps spent")
    ax.set_ylabel("MuJoCo return (checks while training)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    return out / "curves.png"


def table(rows: list[dict[str, Any]]) -> str:
    head = "| arm | MuJoCo return | gain vs random | gain vs model-free | real steps | imagined steps | wall s |"
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        gains = [r.get(k) for k in ("gain_vs_random", "gain_vs_model_free")]
        cells = ["" if g is None else f"{g['mean']:+.1f} ± {g['ci95_half_width']:.1f}" for g in gains]
        lines.append(
            f"| {r['arm']} | {r['return_mean']:.1f} ± {r['return_ci95_half_width']:.1f} | {cells[0]} | {cells[1]} "
            f"| {r['real_steps']:,} | {r['imagined_steps']:,} | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--arms", nargs="+", default=list(DEFAULT_ARMS))
    parser.add_argument("--weights", help="world model directory (default: the task's shipped one)")
    parser.add_argument("--real-steps", type=int, default=100_000)
    parser.add_argument("--round-steps", type=int, default=10_000, help="real steps per Dyna round")
    parser.add_argument("--imagined-steps", type=int, default=400_000)
    parser.add_argument("--finetune-steps", type=int, default=500, help="Predict steps per Dyna round")
    parser.add_argument("--horizon", type=int, default=15, help="imagined episode length (branched rollouts)")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=20_000, help="training steps between MuJoCo checks")
    parser.add_argument("--train-eval-episodes", type=int, default=3)
    parser.add_argument("--eval-seeds", type=int, default=10, help="final MuJoCo episodes per arm")
    parser.add_argument("--eval-horizon", type=int, help="steps per MuJoCo episode at most (default: the task's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench_policies")
    parser.add_argument("--quick", action="store_true", help="toy budgets: a CPU run under a minute")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    args.algo_kwargs = {}
    if args.quick:  # every step below is the pipeline's, at toy budgets
        args.real_steps, args.round_steps, args.imagined_steps, args.finetune_steps = 100, 50, 32, 1
        args.num_envs, args.eval_every, args.train_eval_episodes, args.eval_seeds = 4, 10**6, 1, 3
        args.eval_horizon, args.horizon, args.quiet = 30, 8, True
        args.algo_kwargs = {"learning_starts": 16, "batch_size": 16, "buffer_size": 1_000}
        if args.arms == list(DEFAULT_ARMS):
            args.arms = ["random", "model_free", "dyna"]
        args.out = str(Path(args.out) / "quick")
    args.rounds = max(1, -(-args.real_steps // args.round_steps))
    for arm in args.arms:
        arm_config(arm, args)  # an unknown arm fails before anything trains

    from cosmos_env.tasks import load_task
    from worldmodels.metrics import mean_interval, paired_gain

    task = load_task(args.task)
    seeds = [EVAL_SEED + i for i in range(args.eval_seeds)]
    results: dict[str, dict[str, Any]] = {}
    returns: dict[str, np.ndarray] = {}
    for arm in args.arms:
        record = train_arm(arm, args, task, Path(args.out) / task.name / arm)
        returns[arm] = judge(record["actor"], task, seeds, args.eval_horizon)
        results[arm] = {"arm": arm, **record, "returns": [float(r) for r in returns[arm]]}
        results[arm] |= {
            "return_mean": float(returns[arm].mean()),
            "return_ci95_half_width": mean_interval(torch.as_tensor(returns[arm])),
        }
        print(f"{task.name} {arm}: MuJoCo return {returns[arm].mean():.1f} ({record['wall_s']:.0f} s)", flush=True)
    for arm, r in results.items():
        for base in ("random", "model_free"):
            if base in returns and base != arm and len(seeds) > 1:
                mean, half = paired_gain(torch.as_tensor(returns[arm]), torch.as_tensor(returns[base]))
                r[f"gain_vs_{base}"] = {"mean": mean, "ci95_half_width": half}
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "quiet")}
    report = {"task": task.gym_id, "eval_seeds": seeds, "settings": settings, "arms": list(results.values())}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    curves = plot_curves(results, Path(args.out) / task.name, f"{task.gym_id}: {args.real_steps:,} real steps")
    print(f"training curves: {curves}")
    print(f"\n{task.gym_id}: MuJoCo return over {len(seeds)} seeds (mean ± ~95% interval; gains paired by seed)")
    print(table(list(results.values())))


if __name__ == "__main__":
    main()
