"""Package trained runs as a shipped world model, measure it, and write its model card.

    python examples/package_weights.py --task hopper [--runs runs/hopper] [--starts 32]

Copies ``runs/<task>/{tokenizer,predict}/model`` into ``cosmos_env/weights/<task>/``, runs
``benchmarks/fidelity.py`` on it (JSON + PNG strip beside the weights) and writes
MODEL_CARD.md from what was measured and what the runs recorded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from worldmodels.checkpoint import from_pretrained, read_config
from worldmodels.world_model import WorldModel

ROOT = Path(__file__).resolve().parents[1]


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--runs", help="default runs/<task>")
    parser.add_argument("--starts", type=int, default=32)
    args = parser.parse_args()
    runs = Path(args.runs or f"runs/{args.task}")
    out = ROOT / "cosmos_env" / "weights" / args.task

    tok_extra = read_config(runs / "tokenizer" / "model")["extra"]
    pred_extra = read_config(runs / "predict" / "model")["extra"]
    model = WorldModel(from_pretrained(runs / "tokenizer" / "model"), from_pretrained(runs / "predict" / "model"),
                       pred_extra["context"])  # fmt: skip
    model.save_pretrained(out, extra={"task": pred_extra["task"]})
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fidelity.py"), "--task", args.task, "--weights", str(out),
                    "--starts", str(args.starts), "--json", str(out / "fidelity.json"), "--strip", str(out / "strip.png")],
                   check=True)  # fmt: skip
    fid = json.loads((out / "fidelity.json").read_text())
    meta = json.loads((Path(pred_extra["data"]) / "meta.json").read_text())
    index = json.loads((Path(pred_extra["data"]) / "index.json").read_text())
    steps = sum(s["steps"] for s in index["shards"])
    episodes = sum(s["episodes"] for s in index["shards"])
    size_mb = sum(f.stat().st_size for f in out.rglob("*.safetensors")) / 2**20

    rows = "\n".join(
        f"| {h} | {r['psnr']:.2f} | {r['psnr_persistence']:.2f} | {r['psnr_persistence_tokenized']:.2f} | "
        f"{r['ssim']:.3f} | {r['ssim_persistence']:.3f} | {r['proprio_rmse']:.3f} | {r['proprio_rmse_persistence']:.3f} | "
        f"{r['action_sensitivity_frames']:.2f} | {r['action_sensitivity_proprio']:.2f} |"
        for h, r in fid["horizons"].items()
    )
    card = f"""# {meta['task']['gym_id']} world model (cosmos-env, small)

An action-conditioned latent video model of gymnasium's `{meta['task']['gym_id']}` at
{meta['task']['width']}x{meta['task']['height']} (camera `{meta['task']['camera']}`): a causal tokenizer
({params(model.tokenizer) / 1e6:.2f} M parameters, {model.tokenizer.config.latent_channels}x{model.tokenizer.config.latent_resolution}x{model.tokenizer.config.latent_resolution} continuous latents)
and a Predict diffusion transformer ({params(model.predict) / 1e6:.2f} M parameters, context {model.context} frames,
proprio token). {size_mb:.1f} MB of safetensors. Load with
`worldmodels.world_model.WorldModel.from_pretrained("cosmos_env/weights/{args.task}")`.

## Data
`cosmos-env collect task={args.task} steps=50000 steps_after_termination={meta.get('steps_after_termination', 0)}`:
{episodes} episodes, {steps} steps; behaviour policy `{meta['behaviour']['name'] if isinstance(meta['behaviour'], dict) else meta['behaviour']}`
(smooth random actions); seed {meta['seed']}. The last 5% of episodes were held out for validation.

## Training
`bash examples/train_shipped_models.sh {args.task}` (commands inside).

| stage | steps | time | hardware |
|---|---|---|---|
| tokenizer | {tok_extra['step']} | {tok_extra.get('train_seconds', float('nan')) / 60:.0f} min | {tok_extra.get('device', '?')} |
| predict | {pred_extra['step']} | {pred_extra.get('train_seconds', float('nan')) / 60:.0f} min | {pred_extra.get('device', '?')} |

## Fidelity against MuJoCo
`python benchmarks/fidelity.py --task {args.task} --starts {fid['starts']}` — open loop from {fid['starts']} fresh
MuJoCo starts (seeds never used for training), the same smooth-random actions replayed in both, 1 sampler step.
Tokenizer reconstruction of those held-out frames: PSNR {fid['tokenizer_reconstruction']['psnr']:.2f} dB,
SSIM {fid['tokenizer_reconstruction']['ssim']:.3f}.

| horizon | PSNR | persistence | persistence through tokenizer | SSIM | persistence | proprio RMSE (std units) | persistence | action sensitivity, frames | action sensitivity, proprio |
|---|---|---|---|---|---|---|---|---|---|
{rows}

Persistence repeats the start frame / observation. Action sensitivity: distance between the
imagined futures of two action sequences from one start over MuJoCo's (1 = reacts as much as
MuJoCo, 0 = ignores its actions).

![imagined vs MuJoCo](strip.png)

`strip.png`: top row MuJoCo, bottom row imagined, at steps 1, 8, 16, 32, 64 of one start.
"""
    (out / "MODEL_CARD.md").write_text(card)
    print(f"wrote {out}: {size_mb:.1f} MB, MODEL_CARD.md, fidelity.json, strip.png")


if __name__ == "__main__":
    main()
