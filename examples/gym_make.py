"""An imagined env through plain gymnasium: gym.make, the same run in MuJoCo, then gym.make_vec.

    python examples/gym_make.py                          # the shipped Hopper world model
    python examples/gym_make.py --weights DIR --steps 10 # any world model directory

1. ``gym.make`` of the newest shipped Hopper (``cosmos_env/Hopper-v5``) and MuJoCo's
   ``Hopper-v5`` reset with the same seed (the imagined env starts exactly where MuJoCo does)
   and take the same actions: per-step reward in each, Reason's plausibility, the proprio
   gap, and the return in each.
2. ``gym.make_vec(..., vectorization_mode="vector_entry_point")``: N imagined envs stepped
   by one batched call of the world model, with same-step autoreset.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import cosmos_env  # noqa: F401  (registers the cosmos_env/* ids)
from cosmos_env.shipped import newest_env_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default=newest_env_id("hopper"), help="default: the newest shipped Hopper")
    parser.add_argument("--weights", help="a world model directory (default: the shipped model of the env id)")
    parser.add_argument("--steps", type=int, default=50, help="steps of the paired episode")
    parser.add_argument("--num-envs", type=int, default=16, help="envs of the vector env")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    kwargs = {"weights": args.weights} if args.weights else {}

    # 1. one imagined env beside its MuJoCo reference, same start, same actions
    env = gym.make(args.env_id, render_mode="rgb_array", **kwargs)
    mujoco_env = gym.make(env.unwrapped.task.gym_id)
    obs, info = env.reset(seed=args.seed)
    mujoco_obs, _ = mujoco_env.reset(seed=args.seed)
    print(f"{args.env_id} (MuJoCo: {mujoco_env.spec.id}); same start: {np.array_equal(obs, mujoco_obs)}")
    env.action_space.seed(args.seed)
    returns = {"imagined": 0.0, "mujoco": 0.0}
    print(" step  reward imagined  reward MuJoCo  plausibility  proprio gap (RMS)")
    for t in range(args.steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        mujoco_obs, mujoco_reward, mujoco_terminated, _, _ = mujoco_env.step(action)
        returns["imagined"] += float(reward)
        returns["mujoco"] += float(mujoco_reward)
        gap = float(np.sqrt(np.mean((obs - mujoco_obs) ** 2)))
        print(f"{t + 1:5d}  {reward:15.3f}  {mujoco_reward:13.3f}  {info['plausibility']:12.3f}  {gap:17.3f}")
        if terminated or truncated or mujoco_terminated:
            print(
                f"episode over at step {t + 1}: imagined terminated={terminated}, MuJoCo terminated={mujoco_terminated}"
            )
            break
    print(f"return: imagined {returns['imagined']:.2f}, MuJoCo {returns['mujoco']:.2f}")
    frame = env.render()  # what the world model imagines, decoded
    print(f"render(): {frame.shape} {frame.dtype}")
    env.close()
    mujoco_env.close()

    # 2. N envs, one batched forward pass per step
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point", **kwargs)
    envs.reset(seed=args.seed)
    envs.action_space.seed(args.seed)
    start, steps, finished = time.perf_counter(), 20, 0
    for _ in range(steps):
        _, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        finished += int(np.sum(terminated | truncated))
    seconds = time.perf_counter() - start
    print(
        f"make_vec: {args.num_envs} envs x {steps} steps in {seconds:.2f} s "
        f"({args.num_envs * steps / seconds:.0f} env steps/s), {finished} episodes finished and reset"
    )
    envs.close()


if __name__ == "__main__":
    main()
