"""The main job: roll a task and show it.

For now it rolls the MuJoCo reference with a smooth random policy and writes what the
world model will learn to imagine: an MP4 of RGB | depth | segmentation, a PNG strip and
a JSON summary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cosmos_env import viz
from cosmos_env.behaviour import BehaviourConfig, make_behaviour
from cosmos_env.reference import MujocoReference
from cosmos_env.tasks import TaskConfig


def run_demo(task: TaskConfig, out: str | Path, steps: int = 150, seed: int = 0, fps: int = 30) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ref = MujocoReference(task)
    policy = make_behaviour(BehaviourConfig(name="smooth"), ref.action_space)
    frames, episode_returns, ret = [], [], 0.0
    obs, _ = ref.reset(seed=seed)
    policy.reset(np.random.default_rng(seed))
    start = time.perf_counter()
    for t in tqdm(range(steps), desc=f"demo {task.name}", unit="step"):
        frames.append(ref.render())
        obs, reward, terminated, truncated, _ = ref.step(policy(obs))
        ret += reward
        if terminated or truncated:
            episode_returns.append(ret)
            obs, ret = ref.reset(seed=seed + len(episode_returns))[0], 0.0
    seconds = time.perf_counter() - start
    ref.close()

    video = [np.concatenate([f.rgb, viz.colorize_depth(f.depth), viz.colorize_segmentation(f.segmentation)], axis=1)
             for f in frames]  # fmt: skip
    viz.save_video(out / "reference.mp4", video, fps=fps)
    picks = np.linspace(0, len(frames) - 1, 8).astype(int)
    strip = viz.frame_grid(
        np.stack([frames[i].rgb for i in picks]),
        np.stack([frames[i].depth for i in picks]),
        np.stack([frames[i].segmentation for i in picks]),
    )
    viz.save_png(out / "reference.png", strip)
    summary = {
        "task": task.gym_id,
        "steps": steps,
        "episodes_finished": len(episode_returns),
        "episode_returns": [round(r, 3) for r in episode_returns],
        "reference_steps_per_second": round(steps / seconds, 1),
        "files": ["reference.mp4", "reference.png"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
