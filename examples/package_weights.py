"""Package trained runs as a shipped world model, measure it, and write its model card.

    python examples/package_weights.py --task hopper [--runs runs/hopper] [--starts 32] [--limits NOTES.md]
    python examples/package_weights.py --task hopper --out cosmos_env/weights/hopper-v1 --predict DIR \
        --recipe examples/train_shipped_models_v2.sh --probe DIR --policy LADDER_STAGE --versus cosmos_env/weights/hopper \
        --evaluation docs/evaluation/hopper-v1

Exports ``runs/<task>/{tokenizer,predict,reason}/model`` (any of them may be given
elsewhere, e.g. ``--predict runs/hopper/predict/checkpoints/step-00002000``) as the
world model ``cosmos_env/weights/<task>/`` (replacing what was there), runs ``benchmarks/fidelity.py``
from rest and from starts in motion (``--warmup``), and ``benchmarks/reason.py`` when there is a
critic, JSON + PNG strips beside the weights; with ``--policy`` also on-policy open loop (a ladder
policy's actions in MuJoCo, pose probe, sharpness, diversity), paired against ``--versus`` (the
previous version); ``--evaluation`` (a ``cosmos-env evaluate`` output) adds its ranking. Writes
MODEL_CARD.md from what was measured and what the runs recorded, ending with ``--limits`` (a Markdown file: what a person concluded from those figures
and the strip, written after looking at them).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cosmos_env.export import export_world_model
from cosmos_env.report import rewrite_markdown
from cosmos_env.shipped import TRANSFER_HEADING, env_id, parse_folder
from cosmos_env.tasks import load_task
from worldmodels.checkpoint import read_config
from worldmodels.io import file_sha256 as _file_sha256
from worldmodels.world_model import WorldModel

ROOT = Path(__file__).resolve().parents[1]
file_sha256 = functools.cache(_file_sha256)  # a file is hashed once however many sections cite it


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


def decoder_row(run: dict) -> str:
    """A decoder run's row of the card's training table."""
    what = (
        f"decoder, on imagined latents (horizon {run['horizon']})"
        if run.get("decoder_trained_on", "") != "real latents"
        else "decoder, on real latents"
    )
    if run.get("new_decoder"):
        what = f"new decoder (widths {run['decoder_channels']}), {what.split(', ', 1)[1]}"
    if run.get("adversarial"):
        what += f", patch discriminator (weight {run['adversarial']})"
    return (
        f"| {what} | {run['step']} | {run.get('train_seconds', float('nan')) / 60:.0f} min | {run.get('device', '?')} |"
    )


def decoder_note(runs: list[dict]) -> str:
    """What the decoder runs (oldest first) did, for the card, ending on what they left alone."""
    if not runs:
        return ""
    same = "; the encoder, and so the latents, Predict and Reason, are unchanged."
    if runs[0].get("new_decoder"):
        first, runs = runs[0], runs[1:]
        text = (
            f"\nThe tokenizer's decoder was then replaced by a narrower one (stage widths {first['decoder_channels']}), "
            f"trained from scratch for {first['step']} steps on the frozen encoder's latents of real clips "
            f"(`cosmos-env train stage=decoder stage.predict=null 'stage.decoder_channels=[...]'`), so a pixel step costs "
            f"less to decode{'.' if runs else same}"
        )
        return text + (" " + decoder_note(runs)[1:] if runs else "")
    if runs[0].get("decoder_trained_on") == "real latents":
        first, runs = runs[0], runs[1:]
        adversarial = first.get("adversarial") or 0.0
        how = (
            f" against a patch discriminator's hinge loss at weight {adversarial} (`stage.adversarial`, "
            "VQGAN's adaptive weight), for sharper frames"
            if adversarial
            else ""
        )
        text = f"\nThe decoder was then continued for {first['step']} steps on real latents{how}{'.' if runs else same}"
        return text + (" " + decoder_note(runs)[1:] if runs else "")
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


def behaviour_text(behaviour: dict | str) -> str:
    """What a dataset's ``meta.json`` behaviour was, in words."""
    if isinstance(behaviour, str):
        return f"`{behaviour}`"
    name = behaviour["name"]
    if name == "mix":
        return (
            "`mix`: uniform and smooth random actions and the policies of the seed-A SAC ladder "
            f"(`{behaviour['ladder']}`) with action noise {behaviour['noise_levels']}, "
            f"{behaviour['switch_probability']:.0%} of episodes switching behaviour mid-way"
        )
    return {"smooth": "`smooth` (smooth random actions)", "uniform": "`uniform` (uniform random actions)"}.get(
        name, f"`{name}`"
    )


def curation_text(pred_extra: dict) -> str:
    """What curation kept of the training windows, from the curation file Predict trained on."""
    path = pred_extra.get("curation")
    if not path or not Path(path).is_file():
        return ""
    cur = json.loads(Path(path).read_text())
    dropped = ", ".join(f"{n} {why}" for why, n in cur["dropped"].items())
    return (
        f" Curated (`cosmos-env curate data=...`): {cur['kept_clips']} of {cur['clips']} clips of "
        f"{cur['settings']['clip']} frames kept (dropped: {dropped}); Predict trained on the kept ones."
    )


def on_policy_table(fid: dict) -> str:
    """A Markdown table of on-policy ``benchmarks/fidelity.py --policy --versus`` figures."""
    versus = fid.get("versus", {}).get("horizons", {})
    head = (
        "| horizon | proprio RMSE (persistence) | over persistence, paired | pose from frames (probe floor) "
        "| sharpness (tokenizer ceiling) | diversity, frames |"
        + (" previous: proprio RMSE | previous: pose | previous: sharpness |" if versus else "")
        + "\n"
        + "|---" * (9 if versus else 6)
        + "|\n"
    )
    rows = []
    for h, r in fid["horizons"].items():
        row = (
            f"| {h} | {r['proprio_rmse']:.3f} ({r['proprio_rmse_persistence']:.3f}) | "
            f"{r['proprio_gain']:+.3f} ± {r['proprio_gain_ci95']:.3f} | "
            f"{r.get('pose_rmse', float('nan')):.3f} ({r.get('pose_rmse_real', float('nan')):.3f}) | "
            f"{r['sharpness']:.2f} ({r.get('sharpness_tokenizer_ceiling', float('nan')):.2f}) | "
            f"{r['diversity_frames']:.3f} |"
        )
        if versus:
            v = versus[h]
            row += f" {v['proprio_rmse']:.3f} | {v.get('pose_rmse', float('nan')):.3f} | {v['sharpness']:.2f} |"
        rows.append(row)
    return head + "\n".join(rows)


def ranking_text(evaluation: Path, out: Path) -> str:
    """The ranking table of a ``cosmos-env evaluate`` output, linked from the card."""
    report = json.loads((evaluation / "report.json").read_text())
    st = report["settings"]
    link = Path(os.path.relpath(evaluation / "report.md", out))
    rows = "\n".join(
        f"| {judge}{' (default)' if judge == st['default_variant'] else ''} | "
        + " | ".join(
            f"{r[m]['value']:.2f} [{r[m]['ci95_low']:.2f}, {r[m]['ci95_high']:.2f}]" for m in ("spearman", "pearson")
        )
        + f" | {r['regret']['value']:.0f} |"
        for judge, r in sorted(report["ranking"].items())
    )
    return (
        f"`cosmos-env evaluate task=<task> weights=<this folder>`: {len(report['policies'])} seed-B ladder policies, "
        f"seeds {st['seeds'][0]}..{st['seeds'][-1]}, horizon {st['horizon']}, the same policy from the same start "
        f"in both worlds; 95% bootstrap intervals over seeds. Full report, per-policy returns and plots: "
        f"[{link}]({link}).\n\n| judge | Spearman | Pearson | regret |\n|---|---|---|---|\n{rows}"
    )


def card_with_same_file(out: Path, part: str, section: str) -> Path | None:
    """The first other shipped folder's MODEL_CARD.md whose ``<part>/model.safetensors`` is byte-identical to
    ``out``'s and whose card has ``section``; None if there is none."""
    digest = file_sha256(out / part / "model.safetensors")
    for folder in sorted((ROOT / "cosmos_env" / "weights").iterdir()):
        card = folder / "MODEL_CARD.md"
        if (
            folder.resolve() != out.resolve()
            and (folder / part / "model.safetensors").is_file()
            and card.is_file()
            and section in card.read_text()
            and file_sha256(folder / part / "model.safetensors") == digest
        ):
            return card
    return None


def transfer_text(out: Path) -> str:
    """The card's Transfer section: its training record, and the shipped card that measured the same file."""
    if not (out / "transfer").is_dir():
        return ""
    extra = read_config(out / "transfer")["extra"]
    measured = card_with_same_file(out, "transfer", TRANSFER_HEADING)
    where = (
        f" The same file (sha256 {file_sha256(out / 'transfer' / 'model.safetensors')[:12]}) was measured in "
        f"[{measured.parent.name}'s card]({os.path.relpath(measured, out)}): adherence to each control map, diversity "
        "across styles, and what it buys a pixel policy."
        if measured
        else " Measure it with `python benchmarks/transfer_bench.py --task <task> --weights <this folder>`."
    )
    return f"""
{TRANSFER_HEADING}
`transfer/`: control maps of the decoder's canonical frame (Canny edges, blurred RGB, inverse depth, segmentation)
-> RGB in an appearance style, trained {extra.get("step", "?")} steps ({extra.get("train_seconds", float("nan")) / 60:.0f} min,
{extra.get("device", "?")}) on `{extra.get("data", "?")}` (`cosmos-env train stage=transfer`). It changes nothing by
default; `gym.make(..., obs_mode="pixels", style="dusk" | "random" | ..., control_weights={{"edge": 1.0, ...}})` turns it
on.{where}
"""


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
    parser.add_argument(
        "--no-decoder-age",
        action="store_true",
        help="drop the decoder's age conditioning (Predict's imagined latents sharper than those it learned on)",
    )
    parser.add_argument(
        "--recipe", default="examples/train_shipped_models.sh", help="the script that trained the parts"
    )
    parser.add_argument("--probe", help="a pose probe model directory (stage=probe), shipped as <out>/probe")
    parser.add_argument("--policy", help="a ladder policy: also measure on-policy open loop with its actions")
    parser.add_argument("--versus", help="the previous shipped version, measured on the same on-policy rollouts")
    parser.add_argument("--evaluation", help="a `cosmos-env evaluate` output directory of this model: its ranking")
    parser.add_argument("--transfer", help="a Transfer model directory (stage=transfer), shipped as <out>/transfer")
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
    export_world_model(
        paths["tokenizer"],
        paths["predict"],
        reason,
        out,
        sampling,
        decoder_age=not args.no_decoder_age,
        transfer=args.transfer,
    )
    if args.probe:
        shutil.copytree(args.probe, out / "probe")
    model = WorldModel.from_pretrained(out)
    critic = model.reason
    tok_extra, pred_extra = (read_config(out / stage)["extra"] for stage in ("tokenizer", "predict"))
    decoder_runs = []  # decoder runs, each keeping the record of the tokenizer it continued
    while tok_extra.get("stage") == "decoder":
        decoder_runs.insert(0, tok_extra)
        tok_extra = tok_extra["tokenizer_record"]
    for i, run in reversed(list(enumerate(decoder_runs))):
        if run.get("new_decoder"):  # the decoders before a new one are gone
            decoder_runs = decoder_runs[i:]
            break
    reason_extra = read_config(out / "reason")["extra"] if critic is not None else {}

    def fidelity(name: str, *options: str) -> dict:
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "fidelity.py"), "--task", args.task, "--weights", str(out)]
            + ["--starts", str(args.starts), "--json", str(out / f"{name}.json"), "--strip", str(out / f"{name}.png")]
            + list(options),
            check=True,
        )
        return json.loads((out / f"{name}.json").read_text())

    data = Path(pred_extra["data"])
    have_data = (data / "meta.json").is_file()
    if not have_data:  # a fresh machine: cite the cards that measured the same files on it
        data_card = card_with_same_file(out, "predict", "## Data")
        reason_card = card_with_same_file(out, "reason", "## Reason") if critic is not None else None
        if data_card is None or (critic is not None and reason_card is None):
            raise SystemExit(
                f"{data} (Predict's training data) is not here and no shipped card describes the same Predict and "
                "critic files: collect it first (the recipe's `cosmos-env collect` command)"
            )
    fid = fidelity("fidelity")
    moving = fidelity("fidelity_in_motion", "--warmup", str(args.warmup)) if args.warmup else None
    versus = ["--versus", args.versus] if args.versus else []
    on_policy = fidelity("fidelity_on_policy", "--policy", args.policy, *versus) if args.policy else None
    reason_section = "No Reason critic in this folder yet."
    if critic is not None and not have_data:
        reason_section = (
            f"The critic is the same file (sha256 {file_sha256(out / 'reason' / 'model.safetensors')[:12]}) as "
            f"{reason_card.parent.name}'s: its reward, termination and plausibility figures are in "
            f"[{reason_card.parent.name}'s card]({os.path.relpath(reason_card, out)}) (`{data}` was not on the "
            "machine that packaged this folder)."
        )
    elif critic is not None:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "reason.py"),
                "--task",
                args.task,
                "--weights",
                str(out),
                "--data",
                str(data),
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
    sampler_steps = model.predict.config.rollout_sampler_steps
    task = load_task(args.task)
    if have_data:
        meta = json.loads((data / "meta.json").read_text())
        index = json.loads((data / "index.json").read_text())
        steps = sum(s["steps"] for s in index["shards"])
        episodes = sum(s["episodes"] for s in index["shards"])
        data_section = f"""`cosmos-env collect task={args.task} steps_after_termination={meta.get("steps_after_termination", 0)} ...`
(the recipe below has the full command): {episodes} episodes, {steps} steps; behaviour {behaviour_text(meta["behaviour"])}; seed {meta["seed"]}.
The last 5% of episodes were held out for validation.{curation_text(pred_extra)}"""
    else:
        data_section = (
            f"Predict is the same file (sha256 {file_sha256(out / 'predict' / 'model.safetensors')[:12]}) as "
            f"{data_card.parent.name}'s, trained on `{data}`: [{data_card.parent.name}'s card]"
            f"({os.path.relpath(data_card, out)}) describes the data."
        )
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
    age_dropped = ""
    if args.no_decoder_age and any(run.get("decoder_trained_on") != "real latents" for run in decoder_runs):
        age_dropped = (
            " Here the age conditioning is dropped (`cosmos-env export decoder_age=false`): it was learned on an "
            "older Predict's blurrier imagined latents, and on this Predict's it blurs sharp ones; every latent is "
            "decoded as a real one."
        )
    elif args.no_decoder_age and read_config(paths["tokenizer"])["config"].get("age_buckets"):
        age_dropped = (
            " Its age buckets, kept from the source tokenizer and never trained on real latents (every age is 0), "
            "are dropped (`cosmos-env export decoder_age=false`)."
        )
    version = (parse_folder(out.name) or (args.task, 0))[1]
    on_policy_section = ""
    if on_policy is not None:
        on_policy_section = f"""
### On-policy open loop
`python benchmarks/fidelity.py --task {args.task} --policy {args.policy}{" --versus " + args.versus if args.versus else ""}` —
{on_policy["starts"]} starts; sequence A is what the policy does in MuJoCo (acting on MuJoCo's observations), replayed
open loop in imagination; B the same with action noise 0.3. Pose from frames: a probe trained on MuJoCo's frames
(`probe/`, `cosmos-env train stage=probe`) reads the observation off each imagined frame (std units; floor: the probe
on MuJoCo's own frames). Sharpness: image-gradient energy over MuJoCo's (1 = as sharp; ceiling: the tokenizer's
reconstruction of MuJoCo's frames). Diversity: frame RMSE between two noise draws of the same future.
{"Previous: " + args.versus + ", the same rollouts." if args.versus else ""}

{on_policy_table(on_policy)}

![on-policy strip](fidelity_on_policy.png)
"""
    ranking_section = ""
    if args.evaluation:
        ranking_section = f"""
## Ranking policies against MuJoCo
{ranking_text(Path(args.evaluation), out)}
"""
    card = f"""# {task.gym_id} world model (cosmos-env, small)

An action-conditioned latent video model of gymnasium's `{task.gym_id}` at
{task.width}x{task.height} (camera `{task.camera}`): a causal tokenizer
({params(model.tokenizer) / 1e6:.2f} M parameters, {model.tokenizer.config.latent_channels}x{model.tokenizer.config.latent_resolution}x{model.tokenizer.config.latent_resolution} continuous latents)
and a Predict diffusion transformer ({params(model.predict) / 1e6:.2f} M parameters, context {model.context} frames,
proprio token). {size_mb:.1f} MB of safetensors. The env: `gym.make("{env_id(args.task, version)}")`; the model alone:
`worldmodels.world_model.WorldModel.from_pretrained("{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")`.

## Data
{data_section}

## Training
`bash {args.recipe} {args.task}` (commands inside).

| stage | steps | time | hardware |
|---|---|---|---|
| tokenizer | {tok_extra["step"]} | {tok_extra.get("train_seconds", float("nan")) / 60:.0f} min | {tok_extra.get("device", "?")} |
| predict | {pred_extra["step"]} | {pred_extra.get("train_seconds", float("nan")) / 60:.0f} min | {pred_extra.get("device", "?")} |
{f"| reason | {reason_extra['step']} | {reason_extra.get('train_seconds', float('nan')) / 60:.0f} min | {reason_extra.get('device', '?')} |" if critic is not None else ""}
{chr(10).join(decoder_row(r) for r in decoder_runs)}
{decoder_note(decoder_runs)}{age_dropped}

## Reason (reward, termination, plausibility)
{reason_section}

## Fidelity against MuJoCo
`python benchmarks/fidelity.py --task {args.task} --starts {fid["starts"]}` — open loop from {fid["starts"]} fresh
MuJoCo starts (seeds never used for training), the same smooth-random actions replayed in both,
{sampler_steps} sampler step{"s" if sampler_steps > 1 else ""} per imagined frame (observation and frame together),
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
{in_motion}{on_policy_section}{ranking_section}{transfer_text(out)}"""
    if args.limits:
        card += "\n## Known limits\n" + Path(args.limits).read_text()
    (out / "MODEL_CARD.md").write_text(card)
    print(f"wrote {out}: {size_mb:.1f} MB, MODEL_CARD.md, fidelity*.json, fidelity*.png")
    if args.evaluation:  # the report was written on a training run's folder: now it can name the shipped id
        print(f"rewrote {rewrite_markdown(args.evaluation)}")


if __name__ == "__main__":
    main()
