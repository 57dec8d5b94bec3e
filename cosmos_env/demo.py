"""The main job: a trained policy for one episode in MuJoCo and in imagination, side by side.

The shipped world model of a task and the MuJoCo reference start from the same
``reset(seed)``; the policy (by default the best of the task's shipped SAC ladder) acts
in each world on that world's own observations (:func:`cosmos_env.evaluate.paired_rollout`).
``policy="random"`` drives both with the same smooth random actions instead. Writes
``demo.mp4`` (MuJoCo | imagined, step and running returns on the frames), ``demo.png`` (a
strip of both at 8 steps) and ``summary.json`` (returns, lengths, steps/s of each world).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from cosmos_env import viz
from cosmos_env.evaluate import make_paired_env, paired_rollout, variant_name
from cosmos_env.report import load_policy, write_video
from cosmos_env.shipped import shipped_tasks
from cosmos_env.tasks import TaskConfig
from cosmos_env.testing import tiny_world_model
from cosmos_env.vector import resolve_weights


def best_ladder_policy(task: str) -> str | None:
    """The shipped ladder actor of ``task`` with the best measured MuJoCo return, or None."""
    from cosmos_env.report import POLICY_WEIGHTS, RANKED_LADDER

    for ladder in (RANKED_LADDER, "seed-a"):
        index = POLICY_WEIGHTS / task / ladder / "ladder.json"
        if index.is_file():
            return str(index.parent / json.loads(index.read_text())["best"])
    return None


def run_demo(
    task: TaskConfig,
    out: str | Path,
    weights: str | None = None,
    policy: str = "best",
    steps: int = 1000,
    seed: int = 0,
    fps: int = 30,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Run one episode (at most ``steps`` steps) in both worlds and write the files into
    ``out``; ``policy`` is ``best`` (the shipped ladder's best), ``random`` or an actor
    directory. Returns the summary also written to ``summary.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_kwargs: dict = {"weights": weights}
    if weights is None and task.name not in shipped_tasks():
        warnings.warn(
            f"no shipped world model for {task.name} yet (shipped: {', '.join(shipped_tasks()) or 'none'}): "
            "the demo runs a tiny RANDOM-weight model, so the imagined side is noise; pass weights=DIR",
            stacklevel=2,
        )
        model_kwargs = {"model": tiny_world_model(task)}
    where = best_ladder_policy(task.name) if policy == "best" else policy
    if where is None:
        warnings.warn(f"no shipped policy ladder for {task.name}: the demo acts randomly", stacklevel=2)
        where = "random"
    env = make_paired_env(task=task, num_envs=1, device=device, **model_kwargs)
    variant = variant_name(env.reward_fn, env.termination_fn if task.terminates else "never")
    paired = paired_rollout(
        load_policy(where, env.single_action_space), env, [seed], steps, 0, steps, video=True, progress=progress
    )
    env.close()

    name = Path(where).name
    write_video(out / "demo.mp4", paired, name, variant)
    real, imagined = paired.mujoco.video, paired.closed_loop.video
    picks = np.linspace(0, min(len(real), len(imagined)) - 1, 8).astype(int)
    viz.save_png(out / "demo.png", viz.grid([[real[i] for i in picks], [imagined[i] for i in picks]], scale=2))
    summary = paired.summary()
    imagined_run = summary["imagined"][variant]
    seconds = paired.seconds
    summary = {
        "task": task.gym_id,
        "seed": seed,
        "policy": where,
        "judged_by": variant,
        "return_mujoco": round(summary["mujoco"]["returns"][0], 2),
        "return_imagined": round(imagined_run["returns"][0], 2),
        "length_mujoco": summary["mujoco"]["lengths"][0],
        "length_imagined": imagined_run["lengths"][0],
        "ended_mujoco": summary["mujoco"]["ended"][0],
        "ended_imagined": imagined_run["ended"][0],
        "mujoco_steps_per_second": round(int(paired.mujoco.steps[0]) / seconds["mujoco"], 1),
        "imagined_steps_per_second": round(int(paired.closed_loop.steps[0]) / seconds["closed_loop"], 1),
        "weights": "tiny random (none shipped)" if "model" in model_kwargs else str(resolve_weights(weights, task)),
        "files": ["demo.mp4", "demo.png"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
