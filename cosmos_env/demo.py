"""The main job: one episode in imagination and in MuJoCo, side by side.

The shipped world model of a task and the MuJoCo reference start from the same
``reset(seed)``; the same smooth random actions drive both (open loop). Writes
``demo.mp4`` (MuJoCo | imagined, with the imagined env's plausibility as a bar under
its frame), ``demo.png`` (a strip of both at 8 steps) and ``summary.json`` (steps,
steps/s of each, the return in each up to its own termination, mean plausibility).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cosmos_env import viz
from cosmos_env.behaviour import BehaviourConfig, make_behaviour
from cosmos_env.env import WorldModelEnv
from cosmos_env.reference import MujocoReference
from cosmos_env.shipped import shipped_tasks
from cosmos_env.tasks import TaskConfig
from cosmos_env.testing import tiny_world_model


def plausibility_bar(width: int, value: float, height: int = 4) -> np.ndarray:
    """A bar (height, width, 3) filled to ``value`` in [0, 1], green to red."""
    bar = np.full((height, width, 3), 40, np.uint8)
    colour = np.array([255 * (1 - value), 255 * value, 60], np.uint8)
    bar[:, : int(round(value * width))] = colour
    return bar


def run_demo(
    task: TaskConfig,
    out: str | Path,
    weights: str | None = None,
    steps: int = 200,
    seed: int = 0,
    fps: int = 30,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Run one episode (at most ``steps`` steps) both ways and write the files into ``out``;
    returns the summary also written to ``summary.json``."""
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
    env = WorldModelEnv(task=task.name, obs_mode="dict", render_mode="rgb_array", device=device, **model_kwargs)
    ref = MujocoReference(task)
    policy = make_behaviour(BehaviourConfig(name="smooth"), ref.action_space)
    policy.reset(np.random.default_rng(seed))
    obs, info = env.reset(seed=seed)
    ref_obs, _ = ref.reset(seed=seed)
    assert np.array_equal(obs["state"], ref_obs), "the imagined env must start where MuJoCo does"

    frames = [(ref.render().rgb, obs["pixels"], 1.0)]
    returns, ended = {"mujoco": 0.0, "imagined": 0.0}, {"mujoco": None, "imagined": None}
    plausibility, env_seconds, ref_seconds = [], 0.0, 0.0
    for t in tqdm(range(steps), desc=f"demo {task.name}", unit="step", disable=not progress):
        action = policy(ref_obs)
        start = time.perf_counter()
        obs, reward, terminated, _, info = env.step(action)
        env_seconds += time.perf_counter() - start
        start = time.perf_counter()
        ref_obs, ref_reward, ref_terminated, _, _ = ref.step(action)
        frame = ref.render().rgb
        ref_seconds += time.perf_counter() - start
        for name, r, done in (("imagined", reward, terminated), ("mujoco", ref_reward, ref_terminated)):
            if ended[name] is None:
                returns[name] += float(r)
                ended[name] = t + 1 if done else None
        plausibility.append(float(info["plausibility"]))
        frames.append((frame, obs["pixels"], plausibility[-1]))
        if ended["imagined"] is not None and ended["mujoco"] is not None:
            break  # both episodes over
    env.close()
    ref.close()

    video = [
        np.concatenate(
            [
                np.concatenate([real, plausibility_bar(real.shape[1], 0.0)], 0),
                np.concatenate([imagined, plausibility_bar(imagined.shape[1], p)], 0),
            ],
            1,
        )
        for real, imagined, p in frames
    ]
    viz.save_video(out / "demo.mp4", video, fps=fps)
    picks = np.linspace(0, len(frames) - 1, 8).astype(int)
    viz.save_png(out / "demo.png", viz.grid([[frames[i][0] for i in picks], [frames[i][1] for i in picks]], scale=2))
    n = len(frames) - 1
    summary = {
        "task": task.gym_id,
        "seed": seed,
        "steps": n,
        "imagined_steps_per_second": round(n / env_seconds, 1),
        "mujoco_steps_per_second": round(n / ref_seconds, 1),
        "return_imagined": round(returns["imagined"], 3),
        "return_mujoco": round(returns["mujoco"], 3),
        "terminated_at_imagined": ended["imagined"],
        "terminated_at_mujoco": ended["mujoco"],
        "mean_plausibility": round(float(np.mean(plausibility)), 3),
        "weights": str(weights)
        if weights
        else ("shipped" if "model" not in model_kwargs else "tiny random (none shipped)"),
        "files": ["demo.mp4", "demo.png"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
