"""``cosmos-env evaluate``: paired rollouts of several policies, ranked, written as a report.

:func:`run_evaluation` runs :func:`cosmos_env.evaluate.paired_rollout` for each policy
and writes into ``out``: ``policies/<name>.json`` (every figure of one policy, written
last, so a killed run resumes after its last finished policy), ``videos/<name>.mp4``
(MuJoCo | imagined for the first seed, step and running returns on the frames), the plots
``scatter.png``, ``errors.png`` and ``returns.png``, ``report.json`` (all figures, package
versions, SHA-256 of the weights and policies) and ``report.md`` (tables, plots inline).
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cosmos_env import viz
from cosmos_env.evaluate import PairedRollout, make_paired_env, paired_rollout, rank_policies, variant_name
from cosmos_env.tasks import TaskConfig
from worldmodels.io import atomic_write_bytes, atomic_write_json, file_sha256

POLICY_WEIGHTS = Path(__file__).parent / "weights" / "policies"
RANKED_LADDER = "seed-b"
"""The ladder that is ranked (never used to train a world model)."""


def ladder_dir(task: str, ladder: str = RANKED_LADDER) -> Path:
    """The shipped SAC ladder of ``task``; raises FileNotFoundError when there is none."""
    path = POLICY_WEIGHTS / task / ladder
    if not path.is_dir():
        known = sorted(p.name for p in POLICY_WEIGHTS.iterdir()) if POLICY_WEIGHTS.is_dir() else []
        raise FileNotFoundError(f"no shipped policy ladder for task {task!r} (shipped: {', '.join(known) or 'none'})")
    return path


def best_ladder_actor(task: str, ladder: str = "seed-a") -> str:
    """The actor directory of a shipped ladder's best stage (by its MuJoCo return in ladder.json)."""
    path = ladder_dir(task, ladder)
    return str(path / json.loads((path / "ladder.json").read_text())["best"])


def resolve_policies(spec: str | Sequence[str], task: str) -> dict[str, str]:
    """Policy name -> what to load: ``ladder`` (the task's ranked shipped ladder), ``random``
    (smooth random actions), an actor directory, a folder of actor directories, or a list
    of these. Raises FileNotFoundError for a path that holds no policy."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    out: dict[str, str] = {}
    for item in specs:
        item = str(item)
        if item == "random":
            found = {"random": "random"}
        else:
            path = ladder_dir(task) if item == "ladder" else Path(item)
            if (path / "actor.json").is_file():
                found = {path.name: str(path)}
            else:
                found = {p.parent.name: str(p.parent) for p in sorted(path.glob("*/actor.json"))}
            if not found:
                raise FileNotFoundError(
                    f"{path}: no policy here (an actor directory with actor.json, or a folder of them)"
                )
        for name, where in found.items():
            unique, n = name, 2
            while unique in out:
                unique, n = f"{name}-{n}", n + 1
            out[unique] = where
    return out


def load_policy(where: str, action_space: Any) -> Any:
    from policies.protocol import RandomPolicy, as_policy

    return RandomPolicy(action_space) if where == "random" else as_policy(where)


def digests(directory: Path) -> dict[str, str]:
    """SHA-256 of every weights and config file under ``directory``, by relative path."""
    names = ("model.safetensors", "config.json", "actor.safetensors", "actor.json")
    files = sorted(p for p in directory.rglob("*") if p.name in names and p.is_file())
    return {str(p.relative_to(directory)): file_sha256(p) for p in files}


def versions() -> dict[str, str]:
    import gymnasium
    import mujoco
    import torch

    import cosmos_env

    return {
        "cosmos_env": cosmos_env.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
    }


def run_evaluation(
    policies: str | Sequence[str],
    out: str | Path,
    task: str | TaskConfig | None = None,
    weights: str | Path | None = None,
    model: Any = None,
    seeds: Sequence[int] = tuple(range(10)),
    horizon: int = 1000,
    open_loop_horizon: int = 200,
    frame_stride: int = 10,
    video: bool = True,
    device: str = "cpu",
    progress: bool = True,
    baseline: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate every policy of ``policies`` (see :func:`resolve_policies`) against MuJoCo
    from ``seeds`` and write the report into ``out``; returns what ``report.json`` holds.
    ``model`` (a :class:`~worldmodels.world_model.WorldModel`, with ``task``) stands in for
    ``weights``. Re-running with the same settings reuses each finished policy's figures.
    ``baseline``: the directory of an earlier report (another world model, the same
    policies, seeds and horizon): the ranking gains over it are added
    (:func:`versus_baseline`)."""
    out = Path(out)
    if baseline is not None and not (Path(baseline) / "report.json").is_file():
        raise FileNotFoundError(f"baseline={baseline}: no report.json there (run cosmos-env evaluate out={baseline})")
    env = make_paired_env(weights=weights, task=task, model=model, num_envs=len(seeds), device=device)
    named = resolve_policies(policies, env.task.name)
    if len(named) < 1:
        raise ValueError("no policies to evaluate")
    world = {"weights": str(weights) if weights else ("given model" if model is not None else "shipped")}
    if model is None:
        from cosmos_env.vector import resolve_weights

        world["sha256"] = digests(resolve_weights(weights, env.task))
    settings = {
        "task": env.task.gym_id,
        "seeds": [int(s) for s in seeds],
        "horizon": horizon,
        "open_loop_horizon": open_loop_horizon,
        "frame_stride": frame_stride,
    }
    default_variant = variant_name(env.reward_fn, env.termination_fn if env.task.terminates else "never")
    summaries: dict[str, dict] = {}
    bar = tqdm(named.items(), desc=f"evaluate {env.task.name}", unit="policy", disable=not progress)
    for name, where in bar:
        bar.set_postfix_str(name)
        record = out / "policies" / f"{name}.json"
        key = {
            "settings": settings,
            "world": world,
            "policy": where,
            "policy_sha256": digests(Path(where)) if where != "random" else {},
        }
        if record.is_file() and (done := json.loads(record.read_text())).get("key") == key:
            summaries[name] = done["summary"]
            continue
        policy = load_policy(where, env.single_action_space)
        paired = paired_rollout(policy, env, seeds, horizon, open_loop_horizon, frame_stride, video, progress)
        summaries[name] = paired.summary()
        if video:
            write_video(out / "videos" / f"{name}.mp4", paired, name, default_variant)
            write_strip(out / "strips" / f"{name}.png", paired)
        atomic_write_json(record, {"key": key, "summary": summaries[name]}, indent=None)  # last: marks the policy done
    env.close()

    ranking = rank_policies(summaries) if len(summaries) >= 3 else {}
    report = {
        "settings": {**settings, "default_variant": default_variant},
        "world_model": world,
        "versions": versions(),
        "policies": {n: {"source": w, "sha256": digests(Path(w)) if w != "random" else {}} for n, w in named.items()},
        "ranking": ranking,
        "results": summaries,
    }
    if baseline is not None:
        report["versus_baseline"] = versus_baseline(report, Path(baseline))
    plots = write_plots(out, summaries, ranking, default_variant)
    atomic_write_json(out / "report.json", report, indent=None)
    atomic_write_bytes(out / "report.md", markdown(report, plots, video).encode())
    return report


def versus_baseline(report: dict[str, Any], baseline: Path) -> dict[str, Any]:
    """Ranking gains of ``report``'s world model over the one of ``baseline/report.json``, per
    judge variant both have (:func:`cosmos_env.ranking.agreement_gain`: paired over seeds).
    Raises ValueError unless both ran the same task, seeds, horizon and policies (by SHA-256)."""
    from cosmos_env.ranking import agreement_gain

    base = json.loads((baseline / "report.json").read_text())
    for key in ("task", "seeds", "horizon"):
        if base["settings"][key] != report["settings"][key]:
            raise ValueError(f"baseline {baseline}: {key} {base['settings'][key]!r} != {report['settings'][key]!r}")
    digest = lambda r: {n: p["sha256"] for n, p in r["policies"].items()}  # noqa: E731
    if digest(base) != digest(report):
        raise ValueError(f"baseline {baseline} judged other policies: {sorted(base['policies'])}")
    names = list(report["results"])
    real = np.array([report["results"][n]["mujoco"]["returns"] for n in names])
    out: dict[str, Any] = {
        "weights": base["world_model"]["weights"],
        "sha256": base["world_model"].get("sha256"),
        "gains": {},
    }
    for variant in report["results"][names[0]]["imagined"]:
        if variant not in base["results"][names[0]]["imagined"] or len(names) < 3:
            continue
        ours, theirs = (
            np.array([r["results"][n]["imagined"][variant]["returns"] for n in names]) for r in (report, base)
        )
        out["gains"][variant] = agreement_gain(ours, theirs, real)
    return out


def write_video(path: Path, paired: PairedRollout, name: str, variant: str) -> Path:
    """MuJoCo | imagined for the first seed, each frame captioned with the step and the
    returns so far (imagination judged by ``variant``); an ended episode holds its last frame."""
    reward, termination = variant.split("/")
    real_r = np.cumsum(paired.mujoco.rewards["mujoco"][0] * paired.mujoco.alive()[0])
    imag_alive = paired.closed_loop.alive(termination)[0]
    imag_r = np.cumsum(paired.closed_loop.rewards[reward][0] * imag_alive)
    real_end, imag_end = int(paired.mujoco.steps[0]), int(imag_alive.sum())
    frames = []
    for t in range(max(real_end, imag_end) + 1):
        a = paired.mujoco.video[min(t, real_end)]
        b = paired.closed_loop.video[min(t, imag_end)]
        real_text = f"MuJoCo {real_r[min(t, real_end) - 1] if t else 0.0:7.1f}" + (" (ended)" if t > real_end else "")
        imag_text = f"imagined {imag_r[min(t, imag_end) - 1] if t else 0.0:7.1f}" + (" (ended)" if t > imag_end else "")
        frames.append(
            np.concatenate(
                [
                    viz.caption(a, [f"{name}  step {t}", real_text]),
                    viz.caption(b, [f"seed {paired.seeds[0]}", imag_text]),
                ],
                1,
            )
        )
    tmp = path.with_name(path.stem + ".tmp.mp4")
    viz.save_video(tmp, frames, fps=30, scale=1)
    tmp.replace(path)
    return path


def write_strip(path: Path, paired: PairedRollout, frames: int = 10) -> Path:
    """MuJoCo (top) and imagined (bottom) frames of the first seed at ``frames`` evenly spaced
    steps of the shorter of the two episodes."""
    real, imagined = paired.mujoco.video, paired.closed_loop.video
    picks = np.linspace(0, min(len(real), len(imagined)) - 1, frames).astype(int)
    return viz.save_png(path, viz.grid([[real[i] for i in picks], [imagined[i] for i in picks]], scale=2))


def write_plots(out: Path, summaries: dict[str, dict], ranking: dict, variant: str) -> list[str]:
    """scatter.png (imagined vs MuJoCo mean return, per judge variant), errors.png (error vs
    horizon per policy), returns.png (mean return so far per policy); returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(names)))
    written = []
    if ranking:
        fig, axes = plt.subplots(1, len(ranking), figsize=(4.2 * len(ranking), 4), squeeze=False)
        for ax, (v, r) in zip(axes[0], ranking.items()):
            x, y = np.array(r["mujoco_mean"]), np.array(r["imagined_mean"], dtype=float)
            ax.scatter(x, y, c=colours, s=30, zorder=3)
            lo, hi = min(x.min(), np.nanmin(y)), max(x.max(), np.nanmax(y))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="imagined = MuJoCo")
            s, p = r["spearman"], r["pearson"]
            ax.set_title(
                f"{v}{' (default)' if v == variant else ''}\n"
                f"Spearman {_fmt(s['value'])} [{_fmt(s['ci95_low'])}, {_fmt(s['ci95_high'])}]  "
                f"Pearson {_fmt(p['value'])}",
                fontsize=8,
            )
            ax.set_xlabel("MuJoCo return (mean over seeds)")
            ax.set_ylabel("imagined return")
            ax.legend(fontsize=7)
        fig.suptitle("reward source / termination source", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "scatter.png", dpi=100)
        plt.close(fig)
        written.append("scatter.png")

    panels = [("closed_loop", "obs_error", "closed loop: proprio error (std units)")]
    if "open_loop" in summaries[names[0]]:
        panels += [
            ("open_loop", "obs_error", "open loop: proprio error (std units)"),
            ("open_loop", "psnr", "open loop: frame PSNR (dB)"),
        ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, (loop, metric, title) in zip(axes[0], panels):
        for name, c in zip(names, colours):
            m = summaries[name][loop]
            y = np.array(m[metric], dtype=float)
            x = np.array(m["frame_steps"]) if metric == "psnr" else np.arange(1, len(y) + 1)
            ax.plot(x, y, color=c, lw=1, label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "errors.png", dpi=100)
    plt.close(fig)
    written.append("errors.png")

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for name, c in zip(names, colours):
        curves = summaries[name]["return_curves"]
        axes[0].plot(np.array(curves["mujoco"], dtype=float), color=c, lw=1, label=name)
        axes[1].plot(np.array(curves[variant], dtype=float), color=c, lw=1)
    axes[0].set_title("MuJoCo: return so far (mean over seeds)", fontsize=9)
    axes[1].set_title(f"imagined ({variant}): return so far", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "returns.png", dpi=100)
    plt.close(fig)
    written.append("returns.png")
    return written


def world_model_name(weights: str, sha256: dict[str, str] | None) -> str:
    """How a report names a world model: its folder, and the env id whose shipped files are the
    ones judged (:func:`cosmos_env.shipped.shipped_match`), so a report written on a training
    run's folder names the id it shipped as once re-rendered (:func:`rewrite_markdown`)."""
    from cosmos_env.shipped import shipped_match

    match = shipped_match(sha256) if sha256 else None
    if match is None:
        return weights
    env_id, differ = match
    if not differ:
        return f"`{env_id}` (shipped)" if weights == "shipped" else f"{weights} (the files shipped as `{env_id}`)"
    return f"{weights} (the weights shipped as `{env_id}`; its {', '.join(differ)} differs)"


def rewrite_markdown(out: str | Path) -> Path:
    """Write ``out/report.md`` again from ``out/report.json`` and the plots and strips present
    (e.g. once the judged world model ships under an id). Raises FileNotFoundError without a
    report.json."""
    out = Path(out)
    if not (out / "report.json").is_file():
        raise FileNotFoundError(f"{out}: no report.json (a cosmos-env evaluate output directory)")
    report = json.loads((out / "report.json").read_text())
    plots = [p for p in ("scatter.png", "errors.png", "returns.png") if (out / p).is_file()]
    strips = all((out / "strips" / f"{n}.png").is_file() for n in report["results"])
    atomic_write_bytes(out / "report.md", markdown(report, plots, strips).encode())
    return out / "report.md"


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _at_step(curve: list, steps: Sequence[int], step: int, digits: int = 2) -> str:
    """The value of a per-step curve at ``step`` (steps[i] is the step of curve[i])."""
    steps = list(steps)
    return _fmt(curve[steps.index(step)] if step in steps else None, digits)


def _endings(reasons: list[str]) -> str:
    """Per-seed :func:`~cosmos_env.evaluate.why_ended` reasons -> counts by what ended them,
    e.g. "z 6, ran all 1000 steps 4" ("z+angle" where both ranges were left)."""
    labels = [r if r.startswith("ran all") else "+".join(part.split(" ")[0] for part in r.split("; ")) for r in reasons]
    return ", ".join(f"{label} {count}" for label, count in Counter(labels).most_common())


def _mean_std(values: list) -> str:
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    return f"{np.nanmean(v):.1f} ± {np.nanstd(v):.1f}"


def markdown(report: dict, plots: list[str], video: bool) -> str:
    """report.md: settings, the ranking per judge variant, per-policy returns and errors."""
    s, results = report["settings"], report["results"]
    variant = s["default_variant"]
    lines = [
        f"# Imagination vs MuJoCo: {s['task']}",
        "",
        f"{len(results)} policies, seeds {s['seeds'][0]}..{s['seeds'][-1]} ({len(s['seeds'])}), horizon "
        f"{s['horizon']}, open loop {s['open_loop_horizon']} steps; world model: "
        f"{world_model_name(report['world_model']['weights'], report['world_model'].get('sha256'))}.",
        "Imagined returns are judged by a reward source / termination source "
        f"(`critic`: Reason, `rules`: the task's functions on the imagined observation); the env's default is "
        f"`{variant}`.",
        "",
    ]
    if report["ranking"]:
        lines += [
            "## Ranking agreement (95% bootstrap intervals over seeds)",
            "",
            "| judge | Spearman | Kendall | Pearson | regret |",
            "|---|---|---|---|---|",
        ]
        for v, r in report["ranking"].items():
            cells = [
                f"{_fmt(r[c]['value'])} [{_fmt(r[c]['ci95_low'])}, {_fmt(r[c]['ci95_high'])}]"
                for c in ("spearman", "kendall", "pearson")
            ]
            lines.append(
                f"| {v}{' (default)' if v == variant else ''} | "
                + " | ".join(cells)
                + f" | {_fmt(r['regret']['value'], 1)} |"
            )
        lines.append("")
    if report.get("versus_baseline", {}).get("gains"):
        versus = report["versus_baseline"]
        lines += [
            "## Against the baseline world model: gains, paired over seeds",
            "",
            f"Baseline: {world_model_name(versus['weights'], versus.get('sha256'))}. "
            "The same policies from the same seeds; each figure is this model's correlation minus the baseline's, "
            "with a 95% interval from resampling the seeds alike in all three worlds (holding 0: a tie).",
            "",
            "| judge | Δ Spearman | Δ Kendall | Δ Pearson |",
            "|---|---|---|---|",
        ]
        for v, g in versus["gains"].items():
            cells = [
                f"{g[c]['value']:+.2f} [{g[c]['ci95_low']:+.2f}, {g[c]['ci95_high']:+.2f}]"
                for c in ("spearman", "kendall", "pearson")
            ]
            lines.append(f"| {v}{' (default)' if v == variant else ''} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Returns per policy (mean ± std over seeds)",
        "",
        f"| policy | MuJoCo return | imagined ({variant}) | MuJoCo length | imagined length | "
        "closed-loop proprio error @16/@64 | open-loop PSNR @10/@100 |",
        "|---|---|---|---|---|---|---|",
    ]
    steps_of = lambda curve: range(1, len(curve) + 1)  # noqa: E731  (a per-step curve starts at step 1)
    for name, r in results.items():
        imagined = r["imagined"][variant]
        err = r["closed_loop"]["obs_error"]
        psnr_cells = "n/a"
        if "open_loop" in r:
            steps, curve = r["open_loop"]["frame_steps"], r["open_loop"]["psnr"]
            psnr_cells = f"{_at_step(curve, steps, 10, 1)} / {_at_step(curve, steps, 100, 1)}"
        lines.append(
            f"| {name} | {_mean_std(r['mujoco']['returns'])} | {_mean_std(imagined['returns'])} | "
            f"{_mean_std(r['mujoco']['lengths'])} | {_mean_std(imagined['lengths'])} | "
            f"{_at_step(err, steps_of(err), 16)} / {_at_step(err, steps_of(err), 64)} | {psnr_cells} |"
        )
    lines.append("")
    ended = {name: r for name, r in results.items() if "ended" in r["mujoco"]}  # reports before it lack them
    if ended:
        lines += [
            "## What ended the episodes (seeds each way ended: the healthy range left, or all steps run)",
            "",
            f"| policy | MuJoCo | imagined ({variant}) |",
            "|---|---|---|",
        ]
        for name, r in ended.items():
            mujoco, imagined = _endings(r["mujoco"]["ended"]), _endings(r["imagined"][variant]["ended"])
            lines.append(f"| {name} | {mujoco} | {imagined} |")
        lines.append("")
    for plot in plots:
        lines += [f"![{plot}]({plot})", ""]
    if video:
        lines += ["## Frames of the first seed (top: MuJoCo, bottom: imagined)", ""]
        for n in results:
            lines += [f"{n} ([video](videos/{n}.mp4)):", "", f"![{n}](strips/{n}.png)", ""]
    lines += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())), ""]
    return "\n".join(lines)
