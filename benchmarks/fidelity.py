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

Metrics that blur cannot win, beside PSNR/SSIM:

* pose from frames: a pose probe (``cosmos-env train stage=probe``; the task's shipped
  ``probe/`` by default) reads the observation off each imagined frame; its RMSE against
  MuJoCo's state (std units), beside the probe's error on MuJoCo's own frames (the floor);
* sharpness: image-gradient energy of imagined frames over that of MuJoCo's (1 = as sharp),
  beside its ceiling, the tokenizer's reconstruction of MuJoCo's frames;
* diversity: the same start and actions imagined again with other noise; frame RMSE and
  proprio RMSE (std units) between the two samples.

With ``--policy DIR`` (an actor, e.g. a ladder stage) sequence A is what that policy does
in MuJoCo (acting on MuJoCo's observations; on-policy open loop) and sequence B the same
policy with Gaussian action noise (std 0.3); the warm-up is the policy's too. With
``--versus DIR`` a second world model imagines the same starts and actions in the same
run, and the differences between the two are paired over starts.

MuJoCo keeps stepping after a task terminates (a fallen hopper goes on moving), as the
training data does with ``steps_after_termination``.

    python benchmarks/fidelity.py --task hopper [--weights DIR] [--versus DIR] [--policy DIR]
        [--probe DIR] [--best-of K] [--warmup W] [--quick] [--json PATH] [--strip PNG]
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


def policy_rollouts(
    task: str, seeds: list[int], policy_dir: str, steps: int, warm: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb (N, steps+1, h, w, 3), obs (N, steps+1, D) and actions (N, steps, A) of a policy
    acting in MuJoCo from each seed's reset; after ``warm`` steps its actions get Gaussian
    noise of std ``noise`` (clipped to the action space)."""
    from cosmos_env.reference import MujocoReference
    from policies.protocol import as_policy

    policy = as_policy(policy_dir)
    rgb, obs, actions = [], [], []
    with MujocoReference(task) as ref:
        low, high = ref.action_space.low, ref.action_space.high
        for i, s in enumerate(seeds):
            rng = np.random.default_rng([seed, i])
            o, _ = ref.reset(seed=s)
            frames, observations, acts = [ref.render().rgb], [o], []
            for t in range(steps):
                a = np.asarray(policy.act(o[None].astype(np.float32)), np.float64)[0]
                if t >= warm and noise > 0:
                    a = a + noise * rng.standard_normal(a.shape)
                a = np.clip(a, low, high)
                o, *_ = ref.step(a)
                frames.append(ref.render().rgb)
                observations.append(o)
                acts.append(a)
            rgb.append(np.stack(frames))
            obs.append(np.stack(observations))
            actions.append(np.stack(acts))
    return np.stack(rgb), np.stack(obs).astype(np.float32), np.stack(actions).astype(np.float32)


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


def frame_gradient_energy(frames: torch.Tensor) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 -> :func:`worldmodels.metrics.gradient_energy` per frame, (N, T)."""
    from worldmodels.metrics import gradient_energy

    return gradient_energy(frames.permute(0, 1, 4, 2, 3).float() / 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--weights", help="world model directory (default: the shipped one)")
    parser.add_argument("--versus", help="a second world model directory, measured on the same rollouts")
    parser.add_argument(
        "--policy", help="an actor directory whose MuJoCo actions are replayed (default: smooth random)"
    )
    parser.add_argument("--probe", help="a pose probe directory (default: the task's shipped probe/, if any)")
    parser.add_argument("--starts", type=int, default=32)
    parser.add_argument("--sampler-steps", type=int, help="default: the model's rollout_sampler_steps")
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
        help="start after W shared actions, smooth random or the --policy's (the model gets the real clip as context)",
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
    from worldmodels.checkpoint import from_pretrained
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
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    w = args.warmup
    if args.policy:
        full_a, full_obs_a, all_a = policy_rollouts(args.task, seeds, args.policy, w + horizon, w, 0.0, args.seed)
        warm = all_a[:, :w]
        full_b, full_obs_b, all_b = policy_rollouts(args.task, seeds, args.policy, w + horizon, w, 0.3, args.seed)
        acts_a, acts_b = all_a[:, w:], all_b[:, w:]
    else:
        actions = action_sequences(args.task, 3 * n, horizon, args.seed)
        acts_a, acts_b, warm = actions[:n], actions[n : 2 * n], actions[2 * n :, :w]
        full_a, full_obs_a = mujoco_rollouts(args.task, seeds, np.concatenate([warm, acts_a], 1))
        full_b, full_obs_b = mujoco_rollouts(args.task, seeds, np.concatenate([warm, acts_b], 1))
    real_a, obs_a, real_b, obs_b = full_a[:, w:], full_obs_a[:, w:], full_b[:, w:], full_obs_b[:, w:]
    real_a_t, real_b_t = torch.from_numpy(real_a), torch.from_numpy(real_b)
    std = model.predict.obs_std.cpu()
    probe_dir = Path(args.probe) if args.probe else weights / "probe"
    probe = from_pretrained(probe_dir, expected_class="PoseProbe") if probe_dir.is_dir() else None

    def proprio_rmse(x, y):  # tensors or arrays (N, T, D) -> (N, T)
        x, y = (v.float() if isinstance(v, torch.Tensor) else torch.from_numpy(np.array(v, np.float32)) for v in (x, y))
        return ((x - y) / std).pow(2).mean(-1).sqrt()

    def frame_rmse(x, y):
        return (x.float() - y.float()).div(255).pow(2).flatten(2).mean(-1).sqrt()  # (N, T)

    def imagine(wm, full, full_obs, acts, best_of=1, noise_seed=0):
        gen = torch.Generator().manual_seed(noise_seed)
        z, o = wm.rollout(
            torch.from_numpy(full[:, : w + 1]),
            torch.from_numpy(full_obs[:, : w + 1]),
            torch.from_numpy(acts),
            dataclasses.replace(sampling, best_of=best_of),
            generator=gen,
            context_actions=torch.from_numpy(warm),
        )
        age = torch.arange(z.shape[1]).expand(z.shape[0], -1)  # 0 = the last real frame, then steps imagined
        return wm.decode(z, age, rgb_only=True)["rgb"], o

    def measure(wm) -> dict[str, torch.Tensor]:
        """Per-start (N, T) series of one world model on the shared rollouts."""
        img_a, pred_a = imagine(wm, full_a, full_obs_a, acts_a)
        img_b, pred_b = imagine(wm, full_b, full_obs_b, acts_b)
        img_a2, pred_a2 = imagine(wm, full_a, full_obs_a, acts_a, noise_seed=1)
        psnr_m, ssim_m = frame_metrics(img_a, real_a_t)
        out = {
            "img_a": img_a,
            "img_b": img_b,
            "psnr": psnr_m,
            "ssim": ssim_m,
            "proprio": proprio_rmse(pred_a, obs_a),
            "sens_frames": frame_rmse(img_a, img_b),
            "sens_proprio": proprio_rmse(pred_a, pred_b),
            "gradient_energy": frame_gradient_energy(img_a),
            "diversity_frames": frame_rmse(img_a, img_a2),
            "diversity_proprio": proprio_rmse(pred_a, pred_a2),
        }
        if probe is not None:
            out["pose"] = proprio_rmse(probe.read(img_a), obs_a)
        if args.best_of > 1:
            img_k, pred_k = imagine(wm, full_a, full_obs_a, acts_a, best_of=args.best_of)
            out["psnr_best_of"], out["ssim_best_of"] = frame_metrics(img_k, real_a_t)
            out["proprio_best_of"] = proprio_rmse(pred_k, obs_a)
            if probe is not None:
                out["pose_best_of"] = proprio_rmse(probe.read(img_k), obs_a)
        return out

    psnr_p, ssim_p = frame_metrics(real_a_t[:, :1].expand_as(real_a_t), real_a_t)
    prop_p = proprio_rmse(np.broadcast_to(obs_a[:, :1], obs_a.shape), obs_a)
    recon = model.decode(model.tokenizer.encode(real_a_t.permute(0, 1, 4, 2, 3).float() / 255))["rgb"]
    psnr_r, ssim_r = frame_metrics(recon, real_a_t)
    psnr_tp, ssim_tp = frame_metrics(recon[:, :1].expand_as(recon), real_a_t)
    real_energy = frame_gradient_energy(real_a_t)
    recon_energy = frame_gradient_energy(recon)  # what the decoder keeps of real latents: sharpness's ceiling
    pose_floor = proprio_rmse(probe.read(real_a_t), obs_a) if probe is not None else None
    real_sens_frames, real_sens_proprio = frame_rmse(real_a_t, real_b_t), proprio_rmse(obs_a, obs_b)

    def summary(m: dict[str, torch.Tensor]) -> dict[str, dict]:
        table = {}
        for h in HORIZONS:
            psnr_gain, psnr_half = paired_gain(m["psnr"][:, h], psnr_p[:, h])
            prop_gain, prop_half = paired_gain(prop_p[:, h], m["proprio"][:, h])
            row = {
                "psnr": m["psnr"][:, h].mean().item(),
                "psnr_persistence": psnr_p[:, h].mean().item(),
                "ssim": m["ssim"][:, h].mean().item(),
                "ssim_persistence": ssim_p[:, h].mean().item(),
                "proprio_rmse": m["proprio"][:, h].mean().item(),
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
                    m["sens_frames"][:, h].mean() / real_sens_frames[:, h].mean().clamp_min(1e-8)
                ).item(),
                "action_sensitivity_proprio": (
                    m["sens_proprio"][:, h].mean() / real_sens_proprio[:, h].mean().clamp_min(1e-8)
                ).item(),
                "sharpness": (m["gradient_energy"][:, h].mean() / real_energy[:, h].mean().clamp_min(1e-12)).item(),
                "sharpness_tokenizer_ceiling": (
                    recon_energy[:, h].mean() / real_energy[:, h].mean().clamp_min(1e-12)
                ).item(),
                "diversity_frames": m["diversity_frames"][:, h].mean().item(),
                "diversity_proprio": m["diversity_proprio"][:, h].mean().item(),
            }
            if probe is not None:
                row["pose_rmse"] = m["pose"][:, h].mean().item()
                row["pose_rmse_real"] = pose_floor[:, h].mean().item()
            if args.best_of > 1:
                row["psnr_best_of"] = m["psnr_best_of"][:, h].mean().item()
                row["ssim_best_of"] = m["ssim_best_of"][:, h].mean().item()
                row["proprio_rmse_best_of"] = m["proprio_best_of"][:, h].mean().item()
                # best-of-K's gain over best-of-1, paired over starts (error of 1 minus error of K)
                row["proprio_best_of_gain"], row["proprio_best_of_gain_ci95"] = paired_gain(
                    m["proprio"][:, h], m["proprio_best_of"][:, h]
                )
                if probe is not None:
                    row["pose_rmse_best_of"] = m["pose_best_of"][:, h].mean().item()
                    row["pose_best_of_gain"], row["pose_best_of_gain_ci95"] = paired_gain(
                        m["pose"][:, h], m["pose_best_of"][:, h]
                    )
            table[str(h)] = row
        return table

    measured = measure(model)
    results = {
        "task": args.task,
        "weights": str(weights),
        "actions": f"policy {args.policy}" if args.policy else "smooth random",
        "starts": n,
        "sampler_steps": sampling.steps_for(model.predict.config),
        "warmup": w,
        "context_noise": args.context_noise,
        "best_of": args.best_of,
        "probe": str(probe_dir) if probe is not None else None,
        "tokenizer_reconstruction": {"psnr": psnr_r.mean().item(), "ssim": ssim_r.mean().item()},
        "horizons": summary(measured),
    }
    if args.versus:
        other = WorldModel.from_pretrained(args.versus)
        theirs = measure(other)
        results["versus"] = {"weights": args.versus, "horizons": summary(theirs)}
        gains = {}  # versus minus the first model, paired over starts (errors: first minus versus)
        for h in HORIZONS:
            row = {}
            for key, higher_is_better in (("psnr", True), ("proprio", False), ("pose", False)):
                if key in measured:
                    a, b = (
                        (theirs[key][:, h], measured[key][:, h])
                        if higher_is_better
                        else (measured[key][:, h], theirs[key][:, h])
                    )
                    row[key], row[key + "_ci95"] = paired_gain(a, b)
            gains[str(h)] = row
        results["versus"]["gain"] = gains
    if args.strip:
        steps = [1, 8, 16, 32, 64]
        rows = [real_a[0], measured["img_a"][0].numpy(), real_b[0], measured["img_b"][0].numpy()]
        if args.versus:
            rows += [theirs["img_a"][0].numpy(), theirs["img_b"][0].numpy()]
        strip = viz.grid([[row[s] for s in steps] for row in rows], scale=3)
        viz.save_png(args.strip, strip)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    """Print the figures (last: the table of the first model, then the versus gains)."""
    print(
        f"\n{args.task}: open loop from {results['starts']} MuJoCo starts ({results['warmup']} warm-up steps), "
        f"{results['actions']} actions, {results['sampler_steps']} sampler step(s), context noise {args.context_noise}"
    )
    print(
        "pers. = persistence (start repeated); tok.pers. = the start through the tokenizer; "
        "ceiling = every MuJoCo frame through the tokenizer"
    )
    models = [(results["weights"], results["horizons"])]
    if "versus" in results:
        models.append((results["versus"]["weights"], results["versus"]["horizons"]))
    for name, table in models:
        print(f"\n{name}")
        print(
            f"{'horizon':>7s} {'PSNR':>6s} {'pers.':>6s} {'tok.pers.':>9s} {'ceiling':>7s} {'SSIM':>5s} {'pers.':>5s} "
            f"{'proprio':>7s} {'pers.':>6s} {'sens.frames':>11s} {'sens.proprio':>12s}"
        )
        for h, r in table.items():
            print(
                f"{h:>7s} {r['psnr']:6.2f} {r['psnr_persistence']:6.2f} {r['psnr_persistence_tokenized']:9.2f} "
                f"{r['psnr_tokenizer_ceiling']:7.2f} {r['ssim']:5.3f} {r['ssim_persistence']:5.3f} "
                f"{r['proprio_rmse']:7.3f} {r['proprio_rmse_persistence']:6.3f} "
                f"{r['action_sensitivity_frames']:11.2f} {r['action_sensitivity_proprio']:12.2f}"
            )
        print(
            "metrics blur cannot win: pose read off frames by the probe (floor: on MuJoCo's frames), "
            "sharpness, diversity"
        )
        print(
            f"{'horizon':>7s} {'pose':>6s} {'floor':>6s} {'sharpness':>9s} {'ceiling':>7s} "
            f"{'div.frames':>10s} {'div.proprio':>11s}"
        )
        for h, r in table.items():
            pose = f"{r['pose_rmse']:6.3f} {r['pose_rmse_real']:6.3f}" if "pose_rmse" in r else f"{'-':>6s} {'-':>6s}"
            print(
                f"{h:>7s} {pose} {r['sharpness']:9.3f} {r['sharpness_tokenizer_ceiling']:7.3f} "
                f"{r['diversity_frames']:10.4f} {r['diversity_proprio']:11.3f}"
            )
        print(
            "gain over persistence, paired over starts (~95%): PSNR (dB, model - pers.), proprio RMSE (pers. - model)"
        )
        for h, r in table.items():
            print(
                f"{h:>7s} {r['psnr_gain']:+7.2f} ± {r['psnr_gain_ci95']:5.2f} "
                f"{r['proprio_gain']:+7.3f} ± {r['proprio_gain_ci95']:5.3f}"
            )
        if args.best_of > 1:
            print(f"best-of-{args.best_of} (most plausible of {args.best_of} candidates per step) vs best-of-1:")
            print(
                f"{'horizon':>7s} {'PSNR':>6s} {'K=1':>6s} {'SSIM':>5s} {'K=1':>5s} {'proprio':>7s} {'K=1':>6s} "
                f"{'proprio gain (paired)':>21s} {'pose gain (paired)':>18s}"
            )
            for h, r in table.items():
                pose = (
                    f"{r['pose_best_of_gain']:+.3f} ± {r['pose_best_of_gain_ci95']:.3f}"
                    if "pose_best_of_gain" in r
                    else "-"
                )
                print(
                    f"{h:>7s} {r['psnr_best_of']:6.2f} {r['psnr']:6.2f} {r['ssim_best_of']:5.3f} {r['ssim']:5.3f} "
                    f"{r['proprio_rmse_best_of']:7.3f} {r['proprio_rmse']:6.3f} "
                    f"{r['proprio_best_of_gain']:+13.3f} ± {r['proprio_best_of_gain_ci95']:.3f} {pose:>18s}"
                )
    if "versus" in results:
        print(
            f"\n{results['versus']['weights']} against {results['weights']}, "
            "paired over starts (~95%; > 0: versus better)"
        )
        for h, g in results["versus"]["gain"].items():
            parts = [f"{k} {g[k]:+.3f} ± {g[k + '_ci95']:.3f}" for k in ("psnr", "proprio", "pose") if k in g]
            print(f"{h:>7s} " + ", ".join(parts))


if __name__ == "__main__":
    main()
