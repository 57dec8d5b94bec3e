"""Add a trained Transfer model to a world model directory, measure it, and write the card's
Transfer section.

    python examples/add_transfer.py --weights cosmos_env/weights/hopper-v2 \
        --transfer runs/hopper/transfer/model [--states 32] [--notes NOTES.md] [--quick]

Copies the Transfer model in as ``transfer/`` (checked to load with the world model first),
runs ``benchmarks/transfer_bench.py`` into the directory (``transfer.json``,
``transfer_grid.png``: held-out MuJoCo states, ``transfer_strip.png``: one imagined episode
over time in every style) and writes MODEL_CARD.md's ``## Transfer`` section (replacing an
older one) from those figures, the Transfer run's record and ``--notes`` (Markdown: what a
person concluded after looking at the PNGs). The env's default (``style=None``) does not
change: ``style=`` becomes available.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def install(transfer: Path, weights: Path) -> None:
    """Copy a Transfer model's config and weights into ``weights/transfer`` once it is known to
    load with the world model there (raises, naming the mismatch, and leaves an older
    ``transfer/`` as it was otherwise)."""
    from worldmodels.checkpoint import from_pretrained
    from worldmodels.world_model import WorldModel

    if not (transfer / "config.json").is_file():
        raise FileNotFoundError(f"{transfer}: no trained Transfer model (cosmos-env train stage=transfer)")
    tmp = weights / "transfer.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name in ("config.json", "model.safetensors"):
            shutil.copy2(transfer / name, tmp / name)
        model = from_pretrained(tmp, expected_class="TransferModel")
        world = WorldModel.from_pretrained(weights)
        WorldModel(world.tokenizer, world.predict, world.context, world.reason, model)
    except Exception:
        shutil.rmtree(tmp)
        raise
    shutil.rmtree(weights / "transfer", ignore_errors=True)
    tmp.rename(weights / "transfer")


def section(weights: Path, bench: dict, command: str, notes: str) -> str:
    """The card's Markdown ``## Transfer`` section from the benchmark's figures and the run's record."""
    from cosmos_env.shipped import TRANSFER_HEADING, env_id, parse_folder
    from cosmos_env.styles import PRESETS
    from worldmodels.checkpoint import from_pretrained, read_config
    from worldmodels.transfer import TRANSFER_SIZES

    record = read_config(weights / "transfer")
    extra, config = record["extra"], record["config"]
    model = from_pretrained(weights / "transfer", expected_class="TransferModel")
    params = sum(p.numel() for p in model.parameters()) / 1e6
    size = next((k for k, v in TRANSFER_SIZES.items() if list(v["channels"]) == list(config["channels"])), "custom")
    data = extra.get("data", "?")
    styled = ""
    if (Path(data) / "meta.json").is_file():
        from cosmos_env.data import EpisodeDataset

        episodes = EpisodeDataset(data)
        styled = f" ({len(episodes)} episodes, {episodes.num_steps} steps, one random train-range style an episode)"
    minutes = extra.get("train_seconds", float("nan")) / 60

    def cells(r: dict) -> str:
        vs = f"{r['psnr_vs_mujoco_styled']:.2f}" if "psnr_vs_mujoco_styled" in r else "-"
        figures = (r["edge_f1"], r["depth_si_rmse"], r["seg_miou"], r["blur_ssim"], r["diversity"])
        return " | ".join(f"{x:.3f}" for x in figures) + f" | {vs}"

    rows = "\n".join(f"| {name} | {cells(r)} |" for name, r in bench["rows"].items())
    presets = ", ".join(name for name in PRESETS if name != "canonical")  # transfer_bench's styles, in order
    parsed = parse_folder(weights.name)
    env = env_id(*parsed) if parsed else "cosmos_env/WorldModel-v0"
    return f"""{TRANSFER_HEADING}
`transfer/`: control maps of the decoder's canonical frame (Canny edges, blurred RGB, inverse depth,
segmentation) -> RGB in an appearance style, one light branch per modality mixed by per-modality
weights, one pass a frame ({size}, {params:.2f} M parameters). Trained {extra.get("step", "?")} steps
({minutes:.0f} min, {extra.get("device", "?")}) on `{data}`{styled}: `cosmos-env collect ... styles=random`, then
`cosmos-env train stage=transfer` (the commands end this section). It changes nothing by default; with it:

```python
# style: a preset ("dusk"), "random" (a new style each episode), a 12-vector, or (N, 12) per env with make_vec
env = gym.make("{env}", obs_mode="pixels", style="dusk")
weights = {{"edge": 1.0, "seg": 0.5}}  # per control map: scalars, or (N, H, W) maps
env = gym.make("{env}", obs_mode="pixels", style="random", control_weights=weights)
```

Adherence and diversity on {bench["states"]} held-out MuJoCo states x {bench["styles"]} styles (the presets
but canonical, then random train-range styles from unseen seeds), each frame drawn three ways: by
Transfer from the state's control maps, the canonical frame (perfect adherence, no diversity) and
MuJoCo rendering the same style (the ground truth).
Depth (scale-invariant RMSE, log metres) and segmentation (mIoU) are read by probes trained on MuJoCo
frames in random styles ({bench["probe_steps"]} steps); diversity is the RGB RMSE between two styles of a state.

| frames | edge F1 | depth siRMSE | seg mIoU | blur SSIM | diversity | PSNR vs MuJoCo in the style |
|---|---|---|---|---|---|---|
{rows}

`{command}`

![one imagined episode in every style](transfer_strip.png)

`transfer_strip.png`: per style, a row of this world model's imagined frames drawn by Transfer (the
env with one style per env and one reset seed), then MuJoCo's render of the same policy from the same
start in that style; columns are steps 0, 4, 8, 16, 24, 32, 48, 64 (black: the episode had ended).
`transfer_grid.png`: held-out MuJoCo states (columns, Transfer then MuJoCo) in each style (rows, in the
table's order: {presets}, then the random ones).

{notes.strip()}
"""


def write_section(card: Path, text: str) -> None:
    """Put ``text`` (a ``## Transfer`` section) at the end of ``card``, replacing an older one."""
    from cosmos_env.shipped import TRANSFER_HEADING

    old = card.read_text() if card.is_file() else ""
    start = old.find("\n" + TRANSFER_HEADING)
    if start >= 0:  # the old section goes, up to the next top-level section or the end
        end = old.find("\n## ", start + 1)
        old = old[:start] + (old[end:] if end >= 0 else "\n")
    card.write_text(old.rstrip("\n") + "\n\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a world model directory (e.g. cosmos_env/weights/hopper-v2)")
    parser.add_argument("--transfer", required=True, help="a trained Transfer model directory (stage=transfer)")
    parser.add_argument("--states", type=int, default=32)
    parser.add_argument("--notes", help="Markdown appended to the section: what the PNGs and figures showed")
    parser.add_argument("--quick", action="store_true", help="the benchmark's toy budgets (checks the path only)")
    args = parser.parse_args()

    from worldmodels.checkpoint import read_config

    weights = Path(args.weights)
    task = read_config(weights / "predict")["extra"]["task"]["name"]
    install(Path(args.transfer), weights)
    bench = ["--task", task, "--weights", str(weights), "--states", str(args.states)] + (["--quick"] * args.quick)
    outputs = ["--json", str(weights / "transfer.json"), "--grid", str(weights / "transfer_grid.png")]
    outputs += ["--strip", str(weights / "transfer_strip.png")]
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transfer_bench.py"), *bench, *outputs], check=True)
    command = f"python benchmarks/transfer_bench.py {' '.join(bench)} --json ... --grid ... --strip ..."
    notes = Path(args.notes).read_text() if args.notes else ""
    text = section(weights, json.loads((weights / "transfer.json").read_text()), command, notes)
    write_section(weights / "MODEL_CARD.md", text)
    print(
        f"wrote {weights}/transfer/, transfer.json, transfer_grid.png, transfer_strip.png and MODEL_CARD.md's section"
    )


if __name__ == "__main__":
    main()
