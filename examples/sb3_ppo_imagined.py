"""PPO (stable-baselines3) trained in imagination, then judged in MuJoCo.

    python examples/sb3_ppo_imagined.py                                # shipped Hopper, 50k steps
    python examples/sb3_ppo_imagined.py --weights DIR --timesteps 256 --num-envs 4 --eval-episodes 1

The batched imagined env (one world-model call steps all ``--num-envs`` envs) goes to SB3
through ``cosmos_env.adapters.sb3.SB3VecEnv``, a direct ``VecEnv`` (not ``DummyVecEnv`` over
copies). After training, the policy runs from the same starts in the imagined env and in
the MuJoCo task: the return in each, and the gap, are what tell you whether the world
model is good enough to train on.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

import cosmos_env  # noqa: F401  (registers the cosmos_env/* ids)
from cosmos_env.adapters.sb3 import SB3VecEnv
from cosmos_env.shipped import newest_env_id


def evaluate(policy: PPO, env: gym.Env, seeds: list[int]) -> list[float]:
    """Deterministic episode returns of ``policy`` in ``env``, one per reset seed."""
    returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default=newest_env_id("hopper"), help="default: the newest shipped Hopper")
    parser.add_argument("--weights", help="a world model directory (default: the shipped model of the env id)")
    parser.add_argument("--num-envs", type=int, default=64, help="imagined envs stepped in one batch")
    parser.add_argument("--timesteps", type=int, default=50_000, help="PPO environment steps (in imagination)")
    parser.add_argument("--n-steps", type=int, default=64, help="PPO rollout length per env")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes in each of MuJoCo and imagination")
    parser.add_argument("--max-episode-steps", type=int, default=None, help="shorter episodes (default: the task's)")
    parser.add_argument("--device", default="cpu", help="where the world model runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the trained policy here (.zip)")
    args = parser.parse_args()
    kwargs = {"weights": args.weights} if args.weights else {}
    if args.max_episode_steps:
        kwargs["max_episode_steps"] = args.max_episode_steps

    envs = gym.make_vec(
        args.env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point", device=args.device, **kwargs
    )
    train_env = VecMonitor(SB3VecEnv(envs))
    train_env.seed(args.seed)
    batch = args.n_steps * args.num_envs
    policy = PPO(
        "MlpPolicy",
        train_env,
        n_steps=args.n_steps,
        batch_size=min(batch, 256),
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    start = time.perf_counter()
    policy.learn(total_timesteps=args.timesteps, progress_bar=True)
    seconds = time.perf_counter() - start
    print(
        f"PPO: {policy.num_timesteps} imagined steps in {seconds:.1f} s ({policy.num_timesteps / seconds:.0f} steps/s)"
    )
    if args.save:
        policy.save(args.save)

    # judge it: the same starts (reset seeds) in imagination and in MuJoCo
    seeds = [10_000 + i for i in range(args.eval_episodes)]
    imagined_env = gym.make(args.env_id, device=args.device, **kwargs)
    mujoco_env = gym.make(imagined_env.unwrapped.task.gym_id, max_episode_steps=args.max_episode_steps)
    imagined, mujoco = evaluate(policy, imagined_env, seeds), evaluate(policy, mujoco_env, seeds)
    print(
        f"return over {len(seeds)} episodes: imagined {np.mean(imagined):.1f} +- {np.std(imagined):.1f}, "
        f"MuJoCo {np.mean(mujoco):.1f} +- {np.std(mujoco):.1f}, gap {np.mean(imagined) - np.mean(mujoco):+.1f}"
    )
    imagined_env.close()
    mujoco_env.close()
    train_env.close()


if __name__ == "__main__":
    main()
