"""Open-loop fidelity of a world model against MuJoCo, and its action sensitivity.

From N MuJoCo starts (``reset(seed)``) one smooth-random action sequence is replayed in
MuJoCo and, open loop, in the world model (same first frame and observation). Reported
at horizons 1, 16 and 64, each beside a persistence baseline measured in the same run
(the start frame / observation repeated):

* frame PSNR and SSIM of the imagined RGB against MuJoCo's; besides raw persistence,
  persistence through the tokenizer (the start frame encoded and decoded): at horizon 1
  MuJoCo's frame barely differs from the start (Hopper's step is 8 ms), so raw
  persistence scores above any lossy tokenizer's ceiling, while the tokenizer baseline
  asks whether the dynamics beat standing still at the same compression;
* proprio error: RMSE of the observation in units of the data's per-dimension std;
* gain over persistence, paired over starts: the mean per-start PSNR difference (model
  minus persistence, dB) and proprio-error difference (persistence minus model), each
  with its ~95% interval: the spread between starts is wide, the paired gap much less so;
* action sensitivity: from one start, two different action sequences; the distance
  between the two imagined futures divided by the distance between MuJoCo's (0 = the
  model ignores its actions, 1 = it reacts as much as MuJoCo). Frames: RGB RMSE; proprio:
  normalised RMSE. A ratio of means over starts.

With ``--best-of K`` (a world model with a Reason critic) the first rollouts are imagined
again keeping, at every step, the most plausible of K candidates: best-of-K beside
best-of-1 in the same run.

With ``--warmup W`` both first play W shared smooth-random actions from the reset, and the
world model starts from the last of those real frames (its context filled with the real
clip): starts in motion rather than at rest, where persistence is no longer near-free.

MuJoCo keeps stepping after a task terminates (a fallen hopper goes on moving), as the
training data does with ``steps_after_termination``.

    python benchmarks/fidelity.py --task hopper [--weights DIR] [--best-of K] [--warmup W]
        [--quick] [--json PATH] [--strip PNG]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

HORIZONS = (1, 16, 64)


def mujoco_rollouts(task: str, seeds: list[int], actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rgb (N, H+1, h, w, 3) and obs (N, H+1, D) of MuJoCo replaying ``actions`` (N, H, A)."""
    from cosmos_env.reference import MujocoReference

    rgb, obs = [], []
    with MujocoReference(task) as ref:
        for seed, seq in zip(seeds, actions):
            o, _ = ref.reset(seed=seed)
            frames, observations = [ref.render().rgb], [o]
            for a in seq:
                o, *_ = ref.step(a)  # termination is ignored: physics goes on
                frames.append(ref.render().rgb)
                observations.append(o)
            rgb.append(np.stack(frames))
            obs.append(np.stack(observations))
    return np.stack(rgb), np.stack(obs).astype(np.float32)


def action_sequences(task: str, n: int, horizon: int, seed: int) -> np.ndarray:
    from cosmos_env.behaviour import BehaviourConfig, make_behaviour
    from cosmos_env.reference import MujocoReference

    with MujocoReference(task) as ref:
        space = ref.action_space
    policy = make_behaviour(BehaviourConfig(name="smooth"), space)
    out = []
    for i in range(n):
        policy.reset(np.random.default_rng([seed, i]))
        out.append(np.stack([policy(None) for _ in range(horizon)]))
    return np.stack(out).astype(np.float32)


def frame_metrics(imagined: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, H, W, 3) uint8 each -> PSNR and SSIM, (N, T)."""
    from worldmodels.metrics import psnr, ssim

    a = imagined.permute(0, 1, 4, 2, 3).float() / 255
    b = real.permute(0, 1, 4, 2, 3).float() / 255
    return psnr(a, b), ssim(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="world model directory (default: the shipped one)")
    parser.add_argument("--starts", type=int, default=32)
    parser.add_argument("--sampler-steps", type=int, default=1)
    parser.add_argument(
        "--context-noise",
        type=float,
        default=None,
        help="noise level given to imagined context frames (default: the model's rollout_context_noise)",
    )
    parser.add_argument("--best-of", type=int, default=1, help="also imagine keeping the most plausible of K")
    parser.add_argument("--seed", type=int, default=10_000, help="MuJoCo starts are seeds seed, seed+1, ...")
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="start after W shared random actions (the model gets the real clip as context)",
    )
    parser.add_argument("--quick", action="store_true", help="a CPU run under a minute")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument(
        "--strip",
        help="write a PNG strip: MuJoCo and imagined at steps 1, 8, 16, 32, 64 "
        "for two action sequences from one start (rows: MuJoCo A, imagined A, MuJoCo B, imagined B)",
    )
    args = parser.parse_args()

    from cosmos_env import viz
    from cosmos_env.shipped import weights_dir
    from worldmodels.metrics import paired_gain
    from worldmodels.sampler import SamplingConfig
    from worldmodels.world_model import WorldModel

    torch.manual_seed(0)
    n = 4 if args.quick else args.starts
    horizon = max(HORIZONS)
    weights = Path(args.weights) if args.weights else weights_dir(args.task)
    model = WorldModel.from_pretrained(weights)
    sampling = SamplingConfig(steps=args.sampler_steps, context_noise=args.context_noise)
    args.context_noise = sampling.noise_for(model.predict.config)  # reported as used
    if n < 2:
        parser.error(f"--starts must be >= 2 (the gains over persistence are paired over starts), got {n}")
    seeds = [args.seed + i for i in range(n)]
    if not 0 <= args.warmup <= horizon:
        parser.error(f"--warmup must be in [0, {horizon}], got {args.warmup}")
    actions = action_sequences(args.task, 3 * n, horizon, args.seed)
    acts_a, acts_b, warm = actions[:n], actions[n : 2 * n], actions[2 * n :, : args.warmup]
    w = args.warmup
    full_a, full_obs_a = mujoco_rollouts(args.task, seeds, np.concatenate([warm, acts_a], 1))
    full_b, full_obs_b = mujoco_rollouts(args.task, seeds, np.concatenate([warm, acts_b], 1))
    real_a, obs_a, real_b, obs_b = full_a[:, w:], full_obs_a[:, w:], full_b[:, w:], full_obs_b[:, w:]

    def imagine(full, full_obs, acts, best_of=1):
        gen = torch.Generator().manual_seed(0)
        z, o = model.rollout(
            torch.from_numpy(full[:, : w + 1]),
            torch.from_numpy(full_obs[:, : w + 1]),
            torch.from_numpy(acts),
            dataclasses.replace(sampling, best_of=best_of),
            generator=gen,
            context_actions=torch.from_numpy(warm),
        )
        age = torch.arange(z.shape[1]).expand(z.shape[0], -1)  # 0 = the last real frame, then steps imagined
        return model.decode(z, age)["rgb"], o

    img_a, pred_a = imagine(full_a, full_obs_a, acts_a)
    img_b, pred_b = imagine(full_b, full_obs_b, acts_b)
    real_a_t, real_b_t = torch.from_numpy(real_a), torch.from_numpy(real_b)
    std = model.predict.obs_std.cpu()

    def proprio_rmse(x, y):  # tensors or arrays (N, T, D) -> (N, T)
        x, y = (v.float() if isinstance(v, torch.Tensor) else torch.from_numpy(np.array(v, np.float32)) for v in (x, y))
        return ((x - y) / std).pow(2).mean(-1).sqrt()

    def frame_rmse(x, y):
        return (x.float() - y.float()).div(255).pow(2).flatten(2).mean(-1).sqrt()  # (N, T)

    psnr_m, ssim_m = frame_metrics(img_a, real_a_t)
    persist = real_a_t[:, :1].expand_as(real_a_t)
    psnr_p, ssim_p = frame_metrics(persist, real_a_t)
    prop_m = proprio_rmse(pred_a, obs_a)
    prop_p = proprio_rmse(np.broadcast_to(obs_a[:, :1], obs_a.shape), obs_a)
    recon = model.decode(model.tokenizer.encode(real_a_t.permute(0, 1, 4, 2, 3).float() / 255))["rgb"]
    psnr_r, ssim_r = frame_metrics(recon, real_a_t)
    psnr_tp, ssim_tp = frame_metrics(recon[:, :1].expand_as(recon), real_a_t)
    if args.best_of > 1:
        img_k, pred_k = imagine(full_a, full_obs_a, acts_a, best_of=args.best_of)
        psnr_k, ssim_k = frame_metrics(img_k, real_a_t)
        prop_k = proprio_rmse(pred_k, obs_a)

    results = {
        "task": args.task,
        "weights": str(weights),
        "starts": n,
        "sampler_steps": args.sampler_steps,
        "warmup": w,
        "context_noise": args.context_noise,
        "best_of": args.best_of,
        "tokenizer_reconstruction": {"psnr": psnr_r.mean().item(), "ssim": ssim_r.mean().item()},
        "horizons": {},
    }
    for h in HORIZONS:
        psnr_gain, psnr_half = paired_gain(psnr_m[:, h], psnr_p[:, h])
        prop_gain, prop_half = paired_gain(prop_p[:, h], prop_m[:, h])
        results["horizons"][str(h)] = {
            "psnr": psnr_m[:, h].mean().item(),
            "psnr_persistence": psnr_p[:, h].mean().item(),
            "ssim": ssim_m[:, h].mean().item(),
            "ssim_persistence": ssim_p[:, h].mean().item(),
            "proprio_rmse": prop_m[:, h].mean().item(),
            "proprio_rmse_persistence": prop_p[:, h].mean().item(),
            "psnr_gain": psnr_gain,
            "psnr_gain_ci95": psnr_half,
            "proprio_gain": prop_gain,
            "proprio_gain_ci95": prop_half,
            "psnr_tokenizer_ceiling": psnr_r[:, h].mean().item(),
            "ssim_tokenizer_ceiling": ssim_r[:, h].mean().item(),
            "psnr_persistence_tokenized": psnr_tp[:, h].mean().item(),
            "ssim_persistence_tokenized": ssim_tp[:, h].mean().item(),
            "action_sensitivity_frames": (
                frame_rmse(img_a, img_b)[:, h].mean() / frame_rmse(real_a_t, real_b_t)[:, h].mean().clamp_min(1e-8)
            ).item(),
            "action_sensitivity_proprio": (
                proprio_rmse(pred_a, pred_b)[:, h].mean() / proprio_rmse(obs_a, obs_b)[:, h].mean().clamp_min(1e-8)
            ).item(),
        }
        if args.best_of > 1:
            results["horizons"][str(h)].update(
                {
                    "psnr_best_of": psnr_k[:, h].mean().item(),
                    "ssim_best_of": ssim_k[:, h].mean().item(),
                    "proprio_rmse_best_of": prop_k[:, h].mean().item(),
                }
            )
    if args.strip:
        steps = [1, 8, 16, 32, 64]
        rows = [real_a[0], img_a[0].numpy(), real_b[0], img_b[0].numpy()]  # two action sequences, one start
        strip = viz.grid([[row[s] for s in steps] for row in rows], scale=3)
        viz.save_png(args.strip, strip)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"\n{args.task}: open loop from {n} MuJoCo starts ({w} warm-up steps), {args.sampler_steps} sampler step(s), "
        f"context noise {args.context_noise}; weights {weights}"
    )
    print(
        "pers. = persistence (start repeated); tok.pers. = the start through the tokenizer; "
        "ceiling = every MuJoCo frame through the tokenizer"
    )
    print(
        f"{'horizon':>7s} {'PSNR':>6s} {'pers.':>6s} {'tok.pers.':>9s} {'ceiling':>7s} {'SSIM':>5s} {'pers.':>5s} "
        f"{'tok.pers.':>9s} {'proprio':>7s} {'pers.':>6s} {'sens.frames':>11s} {'sens.proprio':>12s}"
    )
    for h, r in results["horizons"].items():
        print(
            f"{h:>7s} {r['psnr']:6.2f} {r['psnr_persistence']:6.2f} {r['psnr_persistence_tokenized']:9.2f} "
            f"{r['psnr_tokenizer_ceiling']:7.2f} {r['ssim']:5.3f} {r['ssim_persistence']:5.3f} "
            f"{r['ssim_persistence_tokenized']:9.3f} {r['proprio_rmse']:7.3f} {r['proprio_rmse_persistence']:6.3f} "
            f"{r['action_sensitivity_frames']:11.2f} {r['action_sensitivity_proprio']:12.2f}"
        )
    print(
        "gain over persistence, paired over starts (~95% interval): PSNR (dB, model - persistence), "
        "proprio RMSE (persistence - model)"
    )
    print(f"{'horizon':>7s} {'PSNR gain':>15s} {'proprio gain':>15s}")
    for h, r in results["horizons"].items():
        print(
            f"{h:>7s} {r['psnr_gain']:+7.2f} ± {r['psnr_gain_ci95']:5.2f} "
            f"{r['proprio_gain']:+7.3f} ± {r['proprio_gain_ci95']:5.3f}"
        )
    if args.best_of > 1:
        print(f"best-of-{args.best_of} (most plausible of {args.best_of} candidates per step) vs best-of-1:")
        print(f"{'horizon':>7s} {'PSNR':>6s} {'K=1':>6s} {'SSIM':>5s} {'K=1':>5s} {'proprio':>7s} {'K=1':>6s}")
        for h, r in results["horizons"].items():
            print(
                f"{h:>7s} {r['psnr_best_of']:6.2f} {r['psnr']:6.2f} {r['ssim_best_of']:5.3f} {r['ssim']:5.3f} "
                f"{r['proprio_rmse_best_of']:7.3f} {r['proprio_rmse']:6.3f}"
            )


if __name__ == "__main__":
    main()
