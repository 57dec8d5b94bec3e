"""Transfer: adherence to each control and diversity across styles (after TransferBench).

On held-out MuJoCo states (fresh reset seeds, a few smooth-random steps in), each state is
drawn in S styles three ways: by Transfer from the state's canonical control maps (all four
modalities, weight 1 each), by the canonical frame itself (the unstyled baseline: perfect
adherence, no diversity), and by MuJoCo rendering the same style (the ground truth).
For each:

* edge F1: Canny of the frame against Canny of the canonical frame (the edge control),
  1-pixel tolerance;
* depth: scale-invariant RMSE (log metres) of a depth probe's reading of the frame against
  MuJoCo's depth; seg: mean IoU of a segmentation probe against MuJoCo's ids. Both probes
  are one small dense network trained here, first, on MuJoCo frames in random styles;
* blur SSIM: SSIM of the frame blurred as the control is against the blur control;
* diversity: mean RGB RMSE between the frames of two styles of one state;
* PSNR against MuJoCo's render of the same style (Transfer and canonical only).

    python benchmarks/transfer_bench.py --task hopper [--weights DIR] [--states 32] [--quick] [--json PATH] [--grid PNG]
        [--strip PNG]

``--strip`` draws one imagined episode (the env, ``style=`` one look per env) in every style
over time, each row above MuJoCo's render of the same policy from the same start in that
style: the same scene under other looks, or not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class DenseProbe(nn.Module):
    """Frame (N, 3, H, W) -> inverse depth (N, H, W) and segmentation logits (N, S, H, W)."""

    def __init__(self, segments: int, width: int = 32) -> None:
        super().__init__()
        w2 = 2 * width
        down = [nn.Conv2d(3, width, 3, padding=1), nn.Conv2d(width, width, 4, 2, 1), nn.Conv2d(width, w2, 4, 2, 1)]
        self.down = nn.Sequential(*(m for conv in down for m in (conv, nn.SiLU())))
        up = [nn.ConvTranspose2d(w2, width, 4, 2, 1), nn.ConvTranspose2d(width, width, 4, 2, 1)]
        self.up = nn.Sequential(*(m for conv in up for m in (conv, nn.SiLU())))
        self.head = nn.Conv2d(width + 3, 1 + segments, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(torch.cat([self.up(self.down(x * 2 - 1)), x], 1))
        return torch.sigmoid(out[:, 0]), out[:, 1:]


def mujoco_states(task: str, seeds: list[int], steps: int, styles: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical rgb (N, H, W, 3), depth, segmentation (N, H, W) and styled rgb (N, S, H, W, 3)
    of each seed's state after ``steps`` smooth-random actions."""
    from cosmos_env.behaviour import BehaviourConfig, make_behaviour
    from cosmos_env.reference import MujocoReference

    out: dict[str, list] = {"rgb": [], "depth": [], "segmentation": [], "styled": []}
    with MujocoReference(task) as ref:
        policy = make_behaviour(BehaviourConfig(name="smooth"), ref.action_space)
        for seed in seeds:
            obs, _ = ref.reset(seed=seed)
            policy.reset(np.random.default_rng(seed))
            for _ in range(steps):
                obs, *_ = ref.step(policy(obs))
            frame = ref.render()
            out["rgb"].append(frame.rgb)
            out["depth"].append(frame.depth)
            out["segmentation"].append(frame.segmentation)
            out["styled"].append(np.stack([ref.render_styled(s) for s in styles]))
    return {k: np.stack(v) for k, v in out.items()}


def styled_strip(weights: Path, task: str, styles: list[np.ndarray], seed: int, times: list[int]) -> np.ndarray:
    """A PNG-ready grid: per style, a row of the imagined env's frames drawn by Transfer in it
    and a row of MuJoCo's render in it; columns are env steps ``times``. One imagined scene
    in every look (the envs share the start and the noise: one reset seed), the task's best
    seed-A ladder policy acting in each world on its own observations."""
    from gymnasium.vector import AutoresetMode

    from cosmos_env import viz
    from cosmos_env.reference import MujocoReference
    from cosmos_env.report import best_ladder_actor
    from cosmos_env.vector import WorldModelVectorEnv
    from policies.actor import MLPActor

    actor = MLPActor.load(best_ladder_actor(task))
    s = len(styles)
    env = WorldModelVectorEnv(
        num_envs=s, weights=weights, obs_mode="dict", style=np.stack(styles), autoreset_mode=AutoresetMode.DISABLED
    )
    imagined = [[] for _ in range(s)]
    real = [[] for _ in range(s)]
    obs, _ = env.reset(seed=[seed] * s)
    with MujocoReference(task) as ref:
        real_obs, _ = ref.reset(seed=seed)
        ended = real_ended = False
        for t in range(max(times) + 1):
            if t in times:
                for j in range(s):
                    blank = np.zeros_like(obs["pixels"][j])
                    imagined[j].append(blank if ended else obs["pixels"][j])
                    real[j].append(blank if real_ended else ref.render_styled(styles[j]))
            action = actor.act(obs["state"][:1])[0]
            obs, _, terminated, _, _ = env.step(np.repeat(action[None], s, 0))
            ended |= bool(terminated[0])
            if not real_ended:
                real_obs, _, done, *_ = ref.step(actor.act(real_obs[None])[0])
                real_ended = bool(done)
    env.close()
    return viz.grid([row for j in range(s) for row in (imagined[j], real[j])], scale=2)


def train_probe(task: str, segments: int, frames: int, steps: int, seed: int) -> DenseProbe:
    """A dense probe trained on MuJoCo frames in random train-range styles."""
    from cosmos_env.styles import random_style

    rng = np.random.default_rng(seed)
    styles = [random_style(rng) for _ in range(8)]
    data = mujoco_states(task, [seed + i for i in range(frames // len(styles))], 10, styles)
    n, s = data["styled"].shape[:2]
    x = torch.from_numpy(data["styled"].reshape(n * s, *data["styled"].shape[2:])).permute(0, 3, 1, 2).float() / 255
    inv = (1 / torch.from_numpy(data["depth"]).float().clamp_min(1e-3)).clamp(0, 1).repeat_interleave(s, 0)
    seg = torch.from_numpy(data["segmentation"]).long().clamp_max(segments - 1).repeat_interleave(s, 0)
    torch.manual_seed(seed)
    probe = DenseProbe(segments)
    opt = torch.optim.Adam(probe.parameters(), 1e-3)
    for _ in range(steps):
        pick = torch.randint(0, len(x), (32,))
        depth, logits = probe(x[pick])
        loss = (depth - inv[pick]).abs().mean() + F.cross_entropy(logits, seg[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return probe.eval()


def edge_f1(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """F1 of edge maps (N, 1, H, W) with a 1-pixel tolerance, (N,)."""
    near_true = F.max_pool2d(true, 3, 1, 1) > 0
    near_pred = F.max_pool2d(pred, 3, 1, 1) > 0
    precision = (pred.bool() & near_true).flatten(1).sum(1) / pred.flatten(1).sum(1).clamp_min(1)
    recall = (true.bool() & near_pred).flatten(1).sum(1) / true.flatten(1).sum(1).clamp_min(1)
    return 2 * precision * recall / (precision + recall).clamp_min(1e-8)


def scale_invariant_rmse(inverse_pred: torch.Tensor, depth: torch.Tensor, far: float = 50.0) -> torch.Tensor:
    """Scale-invariant RMSE of log depth (Eigen et al. 2014) where MuJoCo's depth < far, (N,)."""
    pred = 1 / inverse_pred.clamp_min(1 / far)
    valid = depth < far
    d = (pred.clamp_min(1e-3).log() - depth.clamp_min(1e-3).log()) * valid
    count = valid.flatten(1).sum(1).clamp_min(1)
    mean, mean_sq = d.flatten(1).sum(1) / count, d.pow(2).flatten(1).sum(1) / count
    return (mean_sq - mean**2).clamp_min(0).sqrt()


def mean_iou(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean IoU over the classes present in each frame, (N,)."""
    pred = logits.argmax(1)
    out = []
    for p, t in zip(pred, ids):
        classes = t.unique()
        out.append(torch.stack([((p == c) & (t == c)).sum() / ((p == c) | (t == c)).sum() for c in classes]).mean())
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="world model directory with transfer/ (default: the shipped one)")
    parser.add_argument("--states", type=int, default=32)
    parser.add_argument("--probe-steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=30_000, help="held-out states are reset seeds seed, seed+1, ...")
    parser.add_argument("--quick", action="store_true", help="a CPU run under a minute")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--grid", help="write a PNG: rows = styles, columns = states (Transfer / MuJoCo pairs)")
    parser.add_argument(
        "--strip",
        help="write a PNG: per style, the imagined env drawn by Transfer over time, then MuJoCo in that style",
    )
    args = parser.parse_args()

    from cosmos_env import viz
    from cosmos_env.shipped import weights_dir
    from cosmos_env.styles import PRESETS, preset, random_style
    from worldmodels.controls import CONTROLS, canny, control_maps, gaussian_blur
    from worldmodels.metrics import psnr, ssim
    from worldmodels.world_model import WorldModel

    weights = Path(args.weights) if args.weights else weights_dir(args.task)
    transfer = WorldModel.from_pretrained(weights).transfer
    if transfer is None:
        parser.error(f"{weights} has no transfer/ model (train one with cosmos-env train stage=transfer)")
    n = 4 if args.quick else args.states
    probe_steps = 20 if args.quick else args.probe_steps
    styles = [preset(name) for name in PRESETS if name != "canonical"]
    styles += [random_style(np.random.default_rng([args.seed, i])) for i in range(2 if args.quick else 4)]
    segments = transfer.config.num_segments
    probe = train_probe(args.task, segments, 64 if args.quick else 1024, probe_steps, args.seed + 10_000)
    data = mujoco_states(args.task, [args.seed + i for i in range(n)], 12, styles)
    s = len(styles)
    rgb = torch.from_numpy(data["rgb"]).permute(0, 3, 1, 2).float() / 255  # (N, 3, H, W)
    depth, seg = torch.from_numpy(data["depth"]).float(), torch.from_numpy(data["segmentation"]).long()
    maps = control_maps(rgb, depth, seg, segments, transfer.config.blur_sigma)
    style_t = torch.from_numpy(np.stack(styles)).float()  # (S, 12)
    with torch.no_grad():
        made = torch.stack(
            [
                transfer({k: v for k, v in maps.items()}, style_t[j].expand(n, -1), {m: 1.0 for m in CONTROLS})
                for j in range(s)
            ],
            1,
        )  # (N, S, 3, H, W)
    truth = torch.from_numpy(data["styled"]).permute(0, 1, 4, 2, 3).float() / 255  # (N, S, 3, H, W)
    canonical = rgb[:, None].expand(-1, s, -1, -1, -1)
    rows = {}
    for name, frames in (("transfer", made), ("canonical", canonical), ("mujoco_styled", truth)):
        flat = frames.flatten(0, 1)  # (N*S, 3, H, W)
        with torch.no_grad():
            inv_depth, logits = probe(flat)
        rep = lambda x: x.repeat_interleave(s, 0)  # noqa: E731
        pairs = [(a, b) for a in range(s) for b in range(a + 1, s)]
        diversity = torch.stack(
            [(frames[:, a] - frames[:, b]).pow(2).flatten(1).mean(1).sqrt() for a, b in pairs]
        ).mean()
        row = {
            "edge_f1": edge_f1(canny(flat), rep(maps["edge"])).mean().item(),
            "depth_si_rmse": scale_invariant_rmse(inv_depth, rep(depth)).mean().item(),
            "seg_miou": mean_iou(logits, rep(seg.clamp_max(segments - 1))).mean().item(),
            "blur_ssim": ssim(gaussian_blur(flat, transfer.config.blur_sigma), rep(maps["blur"])).mean().item(),
            "diversity": diversity.item(),
        }
        if name != "mujoco_styled":
            row["psnr_vs_mujoco_styled"] = psnr(flat, truth.flatten(0, 1)).mean().item()
        rows[name] = row
    results = {
        "task": args.task,
        "weights": str(weights),
        "states": n,
        "styles": s,
        "probe_steps": probe_steps,
        "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.grid:
        to8 = lambda x: (x.permute(1, 2, 0) * 255).round().clamp(0, 255).byte().numpy()  # noqa: E731
        cols = min(n, 4)
        grid = [
            [to8(made[i, j]) if k == 0 else to8(truth[i, j]) for i in range(cols) for k in (0, 1)] for j in range(s)
        ]
        viz.save_png(args.grid, viz.grid(grid, scale=2))
    if args.strip:
        times = [0, 2, 4, 8] if args.quick else [0, 4, 8, 16, 24, 32, 48, 64]
        viz.save_png(args.strip, styled_strip(weights, args.task, styles, args.seed + 20_000, times))
    print(
        f"\n{args.task}: Transfer on {n} held-out states x {s} styles (probes trained {probe_steps} steps); {weights}"
    )
    print(
        f"{'frames':>14s} {'edge F1':>8s} {'depth siRMSE':>12s} {'seg mIoU':>8s} {'blur SSIM':>9s} "
        f"{'diversity':>9s} {'PSNR vs MuJoCo':>14s}"
    )
    for name, r in rows.items():
        vs = f"{r['psnr_vs_mujoco_styled']:14.2f}" if "psnr_vs_mujoco_styled" in r else f"{'-':>14s}"
        print(
            f"{name:>14s} {r['edge_f1']:8.3f} {r['depth_si_rmse']:12.3f} {r['seg_miou']:8.3f} {r['blur_ssim']:9.3f} "
            f"{r['diversity']:9.3f} {vs}"
        )


if __name__ == "__main__":
    main()
