"""Package trained runs as a shipped world model, measure it, and write its model card.

    python examples/package_weights.py --task hopper [--runs runs/hopper] [--starts 32] [--limits NOTES.md]

Exports ``runs/<task>/{tokenizer,predict,reason}/model`` (any of them may be given
elsewhere, e.g. ``--predict runs/hopper/predict/checkpoints/step-00002000``) as the
world model ``cosmos_env/weights/<task>/`` (replacing what was there), runs ``benchmarks/fidelity.py``
from rest and from starts in motion (``--warmup``), and ``benchmarks/reason.py`` when there is a
critic, JSON + PNG strips beside the weights, and writes MODEL_CARD.md from what was measured and what the runs recorded,
ending with ``--limits`` (a Markdown file: what a person concluded from those figures
and the strip, written after looking at them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from cosmos_env.export import export_world_model
from worldmodels.checkpoint import read_config
from worldmodels.world_model import WorldModel

ROOT = Path(__file__).resolve().parents[1]


def table(fid: dict) -> str:
    """A Markdown table of ``benchmarks/fidelity.py --json`` figures."""
    head = (
        "| horizon | PSNR | persistence | PSNR gain, paired (95%) | persistence through tokenizer | SSIM | persistence "
        "| proprio RMSE (std units) | persistence | action sensitivity, frames | action sensitivity, proprio |\n"
        + "|---" * 11
        + "|\n"
    )
    return head + "\n".join(
        f"| {h} | {r['psnr']:.2f} | {r['psnr_persistence']:.2f} | {r['psnr_gain']:+.2f} ± {r['psnr_gain_ci95']:.2f} | "
        f"{r['psnr_persistence_tokenized']:.2f} | {r['ssim']:.3f} | {r['ssim_persistence']:.3f} | {r['proprio_rmse']:.3f} | "
        f"{r['proprio_rmse_persistence']:.3f} | {r['action_sensitivity_frames']:.2f} | {r['action_sensitivity_proprio']:.2f} |"
        for h, r in fid["horizons"].items()
    )


def decoder_note(runs: list[dict]) -> str:
    """What the decoder continuations (oldest first) did, for the card."""
    if not runs:
        return ""
    steps = " then ".join(
        f"{r['step']} steps at horizon {r['horizon']}"
        + (f", told each frame's age ({r['age_buckets']} buckets)" if r.get("age_buckets") else "")
        for r in runs
    )
    return (
        f"\nThe tokenizer's decoder was then continued on Predict's imagined latents, {steps} "
        "(`cosmos-env train stage=decoder stage.horizon=H [stage.age_buckets=N]`: H frames imagined open loop after Predict's "
        "real context, decoded against MuJoCo's; an age-conditioned decoder knows each frame's steps since the last "
        "real one), its encoder frozen: the latents, and so Predict and Reason, are unchanged."
    )


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--runs", help="default runs/<task>")
    parser.add_argument("--starts", type=int, default=32)
    parser.add_argument("--out", help="default cosmos_env/weights/<task>")
    parser.add_argument(
        "--warmup",
        type=int,
        default=8,
        help="also measure fidelity from starts in motion after W random steps (0: skip)",
    )
    parser.add_argument("--limits", help="Markdown appended as the card's 'Known limits' section")
    parser.add_argument(
        "--rollout-context-noise",
        type=float,
        help="Predict's sampling default for imagined context frames (choose it on other seeds: "
        "benchmarks/fidelity.py --seed 20000 --context-noise X)",
    )
    parser.add_argument(
        "--rollout-sampler-steps",
        type=int,
        help="Predict's sampling default: sampler steps per imagined frame (choose it on other seeds)",
    )
    for stage in ("tokenizer", "predict", "reason"):
        parser.add_argument(f"--{stage}", help=f"the {stage} model directory (default: <runs>/{stage}/model)")
    args = parser.parse_args()
    runs = Path(args.runs or f"runs/{args.task}")
    out = Path(args.out) if args.out else ROOT / "cosmos_env" / "weights" / args.task
    paths = {
        stage: Path(getattr(args, stage) or runs / stage / "model") for stage in ("tokenizer", "predict", "reason")
    }

    reason = paths["reason"] if paths["reason"].is_dir() else None
    sampling = {
        "rollout_context_noise": args.rollout_context_noise,
        "rollout_sampler_steps": args.rollout_sampler_steps,
    }
    export_world_model(paths["tokenizer"], paths["predict"], reason, out, sampling)  # checks the parts fit
    model = WorldModel.from_pretrained(out)
    critic = model.reason
    tok_extra, pred_extra = (read_config(out / stage)["extra"] for stage in ("tokenizer", "predict"))
    decoder_runs = []  # decoder continuations on imagined latents, each keeping the record of what it continued
    while tok_extra.get("stage") == "decoder":
        decoder_runs.insert(0, tok_extra)
        tok_extra = tok_extra["tokenizer_record"]
    reason_extra = read_config(out / "reason")["extra"] if critic is not None else {}

    def fidelity(name: str, warmup: int) -> dict:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "fidelity.py"),
                "--task",
                args.task,
                "--weights",
                str(out),
                "--starts",
                str(args.starts),
                "--warmup",
                str(warmup),
                "--json",
                str(out / f"{name}.json"),
                "--strip",
                str(out / f"{name}.png"),
            ],
            check=True,
        )
        return json.loads((out / f"{name}.json").read_text())

    fid = fidelity("fidelity", 0)
    moving = fidelity("fidelity_in_motion", args.warmup) if args.warmup else None
    reason_section = "No Reason critic in this folder yet."
    if critic is not None:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "reason.py"),
                "--task",
                args.task,
                "--weights",
                str(out),
                "--data",
                pred_extra["data"],
                "--json",
                str(out / "reason.json"),
            ],
            check=True,
        )
        rj = json.loads((out / "reason.json").read_text())
        term = rj.get("termination")
        reason_section = (
            f"`python benchmarks/reason.py --task {args.task}` on {rj['clips']} clips of {rj['held_out_episodes']} held-out "
            f"episodes ({reason_extra.get('step', '?')} training steps, {reason_extra.get('train_seconds', float('nan')) / 60:.0f} min):\n\n"
            f"- reward: Pearson {rj['reward']['pearson']:.3f}, MAE {rj['reward']['mae']:.3f} "
            f"(rule from the proprio observation: {rj['reward']['pearson_baseline']:.3f}, {rj['reward']['mae_baseline']:.3f})\n"
            + (
                f"- termination: precision {term['precision']:.3f}, recall {term['recall']:.3f}, F1 {term['f1']:.3f} "
                f"(healthy-range rule: F1 {rj['termination_baseline']['f1']:.3f})\n"
                if term
                else ""
            )
            + "- plausibility AUROC, real vs: "
            + ", ".join(
                f"{k} {v['auroc']:.3f} (smoothness {v['auroc_baseline']:.3f})" for k, v in rj["plausibility"].items()
            )
        )
    meta = json.loads((Path(pred_extra["data"]) / "meta.json").read_text())
    index = json.loads((Path(pred_extra["data"]) / "index.json").read_text())
    steps = sum(s["steps"] for s in index["shards"])
    episodes = sum(s["episodes"] for s in index["shards"])
    size_mb = sum(f.stat().st_size for f in out.rglob("*.safetensors")) / 2**20

    in_motion = ""
    if moving is not None:
        in_motion = f"""
### Starts in motion
`python benchmarks/fidelity.py --task {args.task} --starts {moving["starts"]} --warmup {moving["warmup"]}` — the same,
but both first play {moving["warmup"]} shared random actions from the reset and the model starts from the last real
frame with the real clip as context: the body is moving, so persistence is no longer near-free at horizon 1.
Tokenizer reconstruction: PSNR {moving["tokenizer_reconstruction"]["psnr"]:.2f} dB.

{table(moving)}

![imagined vs MuJoCo, starts in motion](fidelity_in_motion.png)
"""
    card = f"""# {meta["task"]["gym_id"]} world model (cosmos-env, small)

An action-conditioned latent video model of gymnasium's `{meta["task"]["gym_id"]}` at
{meta["task"]["width"]}x{meta["task"]["height"]} (camera `{meta["task"]["camera"]}`): a causal tokenizer
({params(model.tokenizer) / 1e6:.2f} M parameters, {model.tokenizer.config.latent_channels}x{model.tokenizer.config.latent_resolution}x{model.tokenizer.config.latent_resolution} continuous latents)
and a Predict diffusion transformer ({params(model.predict) / 1e6:.2f} M parameters, context {model.context} frames,
proprio token). {size_mb:.1f} MB of safetensors. Load with
`worldmodels.world_model.WorldModel.from_pretrained("cosmos_env/weights/{args.task}")`.

## Data
`cosmos-env collect task={args.task} steps=50000 steps_after_termination={meta.get("steps_after_termination", 0)}`:
{episodes} episodes, {steps} steps; behaviour policy `{meta["behaviour"]["name"] if isinstance(meta["behaviour"], dict) else meta["behaviour"]}`
(smooth random actions); seed {meta["seed"]}. The last 5% of episodes were held out for validation.

## Training
`bash examples/train_shipped_models.sh {args.task}` (commands inside).

| stage | steps | time | hardware |
|---|---|---|---|
| tokenizer | {tok_extra["step"]} | {tok_extra.get("train_seconds", float("nan")) / 60:.0f} min | {tok_extra.get("device", "?")} |
| predict | {pred_extra["step"]} | {pred_extra.get("train_seconds", float("nan")) / 60:.0f} min | {pred_extra.get("device", "?")} |
{f"| reason | {reason_extra['step']} | {reason_extra.get('train_seconds', float('nan')) / 60:.0f} min | {reason_extra.get('device', '?')} |" if critic is not None else ""}
{chr(10).join(f"| decoder, on imagined latents (horizon {r['horizon']}) | {r['step']} | {r.get('train_seconds', float('nan')) / 60:.0f} min | {r.get('device', '?')} |" for r in decoder_runs)}
{decoder_note(decoder_runs)}

## Reason (reward, termination, plausibility)
{reason_section}

## Fidelity against MuJoCo
`python benchmarks/fidelity.py --task {args.task} --starts {fid["starts"]}` — open loop from {fid["starts"]} fresh
MuJoCo starts (seeds never used for training), the same smooth-random actions replayed in both, 1 sampler step
(observation and frame at once: 1 network pass),
imagined context frames noised to {fid["context_noise"]} (the model's `rollout_context_noise`).
Tokenizer reconstruction of those held-out frames: PSNR {fid["tokenizer_reconstruction"]["psnr"]:.2f} dB,
SSIM {fid["tokenizer_reconstruction"]["ssim"]:.3f}.

{table(fid)}

Persistence repeats the start frame / observation. PSNR gain: the mean over starts of the model's
PSNR minus persistence's on the same start, with its ~95% interval (an interval that straddles 0
is a tie). Action sensitivity: distance between the
imagined futures of two action sequences from one start over MuJoCo's (1 = reacts as much as
MuJoCo, 0 = ignores its actions).

![imagined vs MuJoCo](fidelity.png)

`fidelity.png`: steps 1, 8, 16, 32, 64 from one start under two action sequences; rows: MuJoCo A,
imagined A, MuJoCo B, imagined B (a model that ignores its actions draws rows 2 and 4 alike).
{in_motion}"""
    if args.limits:
        card += "\n## Known limits\n" + Path(args.limits).read_text()
    (out / "MODEL_CARD.md").write_text(card)
    print(f"wrote {out}: {size_mb:.1f} MB, MODEL_CARD.md, fidelity*.json, fidelity*.png")


if __name__ == "__main__":
    main()
