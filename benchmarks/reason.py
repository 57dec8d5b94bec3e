"""How well Reason judges held-out MuJoCo episodes, each figure beside a baseline.

On the held-out episodes of a dataset (the last 5 %, as training holds them out), every
clip ending in a labelled transition is judged:

* reward: Pearson correlation and MAE against MuJoCo's reward; baseline: the reward
  written out from the proprio observation (:mod:`cosmos_env.proprio_rules`);
* termination: precision, recall and F1 at p > 0.5; baseline: the healthy-range rule on
  the observation (tasks that never terminate are skipped);
* plausibility (on ``--plausibility-clips`` of them): AUROC of real clips against
  imagined ones (Predict's open-loop futures from the same clips' first frames) and
  against corrupted ones (shuffled, frozen, teleported); baseline: smoothness (minus the mean step-to-step change of the
  normalised observation), which a critic should beat on everything but freezes.

Without ``--data`` and without a ``data/<task>`` dataset (a fresh clone), it collects
its own episodes from MuJoCo first (with a seed no shipped dataset used), all of them
held out, since no model was trained on them.

    python benchmarks/reason.py --task hopper [--weights DIR] [--data DIR] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random positive > a random negative), ties counting half."""
    from cosmos_env.ranking import ranks

    ranked = ranks(np.concatenate([positive, negative]))  # tie-averaged
    n_pos, n_neg = len(positive), len(negative)
    return float((ranked[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = float((predicted & truth).sum())
    precision = tp / max(predicted.sum(), 1)
    recall = tp / max(truth.sum(), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}


COLLECT_SEED = 1_000_003
"""The seed of self-collected episodes: the shipped datasets used seed 0, and shard i of seed s
draws its episode seeds from ``default_rng([s, i])``, so another seed gives other episodes."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="world model directory with reason/ (default: the shipped one)")
    parser.add_argument(
        "--data",
        help="dataset directory; its last --val-fraction of episodes are judged (default: data/<task> if it exists, "
        "else episodes collected from MuJoCo now into a temporary directory, every one of them judged)",
    )
    parser.add_argument(
        "--collect-steps",
        type=int,
        help="steps to collect when there is no dataset (default: 300 with --quick, else 3000)",
    )
    parser.add_argument(
        "--steps-after-termination",
        type=int,
        default=100,
        help="when collecting: steps recorded after the task terminates (the shipped Hopper data used 100)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument(
        "--plausibility-clips",
        type=int,
        help="plausibility is measured on this many clips, spread evenly (imagining is the slow part; "
        "default: 1024, 128 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a CPU run under a minute (one held-out episode, or 300 collected steps; 256 clips, 128 for plausibility)",
    )
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()

    from cosmos_env.collect import collect
    from cosmos_env.data import EpisodeDataset, WindowDataset
    from cosmos_env.proprio_rules import ProprioRules
    from cosmos_env.shipped import weights_dir
    from cosmos_env.training import encode_episodes, split_episodes
    from worldmodels.corrupt import CORRUPTIONS
    from worldmodels.rollout import imagine_clips
    from worldmodels.world_model import WorldModel

    torch.manual_seed(0)
    weights = Path(args.weights) if args.weights else weights_dir(args.task)
    model = WorldModel.from_pretrained(weights)
    if model.reason is None:
        raise SystemExit(f"{weights} has no reason/ critic to measure")
    critic, clip = model.reason, model.reason.config.clip
    data = Path(args.data or f"data/{args.task}")
    collecting = args.data is None and not data.exists()
    if collecting:  # a fresh clone: episodes no model was trained on, all held out
        tmp = tempfile.TemporaryDirectory(prefix=f"reason-{args.task}-")  # removed when main returns
        data = Path(tmp.name) / args.task
        steps = args.collect_steps or (300 if args.quick else 3000)
        print(f"no dataset at data/{args.task}: collecting {steps} steps of {args.task} (seed {COLLECT_SEED})")
        collect(
            args.task,
            steps=steps,
            out=data,
            seed=COLLECT_SEED,
            workers=1,
            progress=False,
            steps_after_termination=args.steps_after_termination,
        )
    episodes = EpisodeDataset(data)
    if collecting:
        held_out = list(range(len(episodes)))
    else:
        held_out = split_episodes(episodes, args.val_fraction)[1][-1 if args.quick else 0 :]
    latents = encode_episodes(model.tokenizer, episodes, only=held_out, progress=False)
    windows = WindowDataset(
        episodes,
        context=clip,
        horizon=0,
        pad_start=True,
        episodes=held_out,
        fields=("obs", "action", "reward", "terminated"),
        extra_frames={"latents": latents},
    )
    picks = np.arange(len(windows))
    if args.quick:
        picks = np.linspace(0, len(windows) - 1, min(256, len(windows))).round().astype(int)
    batch = torch.utils.data.default_collate([windows[int(i)] for i in picks])
    labelled = batch["valid"][:, -2].numpy()
    z, o, a = batch["latents"].float(), batch["obs"].float(), batch["action"].float()

    def judge(z, o, a):
        out = [critic.judge(*(x[i : i + 512] for x in (z, o, a))) for i in range(0, len(z), 512)]
        return {k: torch.cat([d[k] for d in out]).numpy() for k in out[0]}

    real = judge(z, o, a)
    reward_true = batch["reward"][:, -1].numpy()[labelled]
    reward_pred = real["reward"][labelled]
    results: dict = {
        "task": args.task,
        "weights": str(weights),
        "data": f"collected: seed {COLLECT_SEED}, {steps} steps" if collecting else str(data),
        "held_out_episodes": len(held_out),
        "clips": int(labelled.sum()),
    }
    rules = ProprioRules.for_task(args.task)
    obs_np, act_np = o.numpy(), a.numpy()
    reward_rule = rules.reward(obs_np[:, -2], obs_np[:, -1], act_np[:, -1])[labelled]
    results["reward"] = {
        "pearson": float(np.corrcoef(reward_pred, reward_true)[0, 1]),
        "mae": float(np.abs(reward_pred - reward_true).mean()),
        "pearson_baseline": float(np.corrcoef(reward_rule, reward_true)[0, 1]),
        "mae_baseline": float(np.abs(reward_rule - reward_true).mean()),
    }
    term_true = batch["terminated"][:, -1].numpy()[labelled]
    if term_true.any():
        results["termination"] = classification(real["terminated"][labelled] > 0.5, term_true)
        results["termination_baseline"] = classification(rules.terminated(obs_np[:, -1])[labelled], term_true)
        results["termination"]["positives"] = int(term_true.sum())

    plausibility_clips = args.plausibility_clips or (128 if args.quick else 1024)
    sub = torch.linspace(0, len(z) - 1, min(plausibility_clips, len(z))).round().long()
    z, o, a, obs_np = z[sub], o[sub], a[sub], obs_np[sub.numpy()]
    real_plausibility = real["plausibility"][sub.numpy()]
    negatives = {}
    for real_frames in range(1, clip):
        gen = torch.Generator().manual_seed(real_frames)
        iz, io = imagine_clips(model.predict, z, o, a, real=real_frames, context=model.context, generator=gen)
        negatives[f"imagined_{real_frames}_real"] = (iz, io, a)
    for name, corrupt in CORRUPTIONS.items():
        negatives[name] = (*corrupt(z, o, torch.Generator().manual_seed(0)), a)
    std = critic.obs_std.numpy()

    def smoothness(obs: np.ndarray) -> np.ndarray:
        return -np.abs(np.diff(obs, axis=1) / std).mean((1, 2))

    results["plausibility"] = {}
    for name, (nz, no, na) in negatives.items():
        results["plausibility"][name] = {
            "auroc": auroc(real_plausibility, judge(nz, no, na)["plausibility"]),
            "auroc_baseline": auroc(smoothness(obs_np), smoothness(no.numpy())),
        }
    results["plausibility_clips"] = len(sub)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n{args.task}: Reason on {results['clips']} clips of {len(held_out)} held-out episodes; weights {weights}")
    r = results["reward"]
    print(
        f"reward       pearson {r['pearson']:.3f} (rule {r['pearson_baseline']:.3f})   "
        f"MAE {r['mae']:.3f} (rule {r['mae_baseline']:.3f})"
    )
    if "termination" in results:
        t, b = results["termination"], results["termination_baseline"]
        print(
            f"termination  P {t['precision']:.3f} R {t['recall']:.3f} F1 {t['f1']:.3f}   "
            f"(rule P {b['precision']:.3f} R {b['recall']:.3f} F1 {b['f1']:.3f}; {t['positives']} terminal)"
        )
    print(
        "plausibility AUROC, real vs:  "
        + "  ".join(
            f"{k} {v['auroc']:.3f} (smooth {v['auroc_baseline']:.3f})" for k, v in results["plausibility"].items()
        )
    )


if __name__ == "__main__":
    main()
