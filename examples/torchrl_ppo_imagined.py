"""PPO (torchrl) trained in imagination: a collector over the batched imagined env, GAE and
the clipped PPO loss, then the policy judged in MuJoCo from the same starts.

    python examples/torchrl_ppo_imagined.py                             # shipped Hopper
    python examples/torchrl_ppo_imagined.py --weights DIR --frames 256 --num-envs 4 --eval-episodes 1

``cosmos_env.adapters.torchrl.make_torchrl_env`` is an ``EnvBase`` of batch size
[num_envs] whose specs come from the MuJoCo task; torchrl resets finished envs itself.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import DoubleToFloat, ExplorationType, TransformedEnv, set_exploration_type
from torchrl.modules import ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE
from tqdm.auto import tqdm

import cosmos_env  # noqa: F401  (first: sets MUJOCO_GL=egl before torchrl imports mujoco)
from cosmos_env.adapters.torchrl import make_torchrl_env
from cosmos_env.vector import resolve_weights, task_of


def mlp(inputs: int, outputs: int, hidden: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, outputs)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper", help="a shipped task (ignored with --weights)")
    parser.add_argument("--weights", help="a world model directory (default: the shipped model of --task)")
    parser.add_argument("--num-envs", type=int, default=64, help="imagined envs stepped in one batch")
    parser.add_argument("--frames", type=int, default=50_000, help="environment steps (in imagination)")
    parser.add_argument("--steps-per-batch", type=int, default=64, help="steps per env per PPO batch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatch", type=int, default=256)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--max-episode-steps", type=int, default=1000)
    parser.add_argument("--device", default="cpu", help="where the world model runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    weights = resolve_weights(args.weights, args.task)
    task = task_of(weights)

    env = TransformedEnv(
        make_torchrl_env(
            num_envs=args.num_envs, weights=weights, device=args.device, max_episode_steps=args.max_episode_steps
        ),
        DoubleToFloat(),  # MuJoCo's observation spaces are float64
    )
    env.set_seed(args.seed)
    obs_dim = env.observation_spec["observation"].shape[-1]
    action_spec = env.action_spec
    act_dim = action_spec.shape[-1]

    actor_net = nn.Sequential(mlp(obs_dim, 2 * act_dim), NormalParamExtractor())
    actor = ProbabilisticActor(
        TensorDictModule(actor_net, in_keys=["observation"], out_keys=["loc", "scale"]),
        spec=action_spec,
        in_keys=["loc", "scale"],
        distribution_class=TanhNormal,
        distribution_kwargs={"low": action_spec.space.low[0], "high": action_spec.space.high[0]},
        return_log_prob=True,
    )
    critic = ValueOperator(mlp(obs_dim, 1), in_keys=["observation"])
    frames_per_batch = args.num_envs * args.steps_per_batch
    collector = Collector(
        env, actor, frames_per_batch=frames_per_batch, total_frames=args.frames, auto_register_policy_transforms=False
    )
    advantage = GAE(gamma=0.99, lmbda=0.95, value_network=critic, average_gae=True)
    loss = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=1e-3)
    optim = torch.optim.Adam(loss.parameters(), lr=3e-4)

    start, frames = time.perf_counter(), 0
    bar = tqdm(total=args.frames, desc="torchrl PPO (imagined)", unit="step")
    for batch in collector:  # TensorDict [num_envs, steps_per_batch]
        frames += batch.numel()
        for _ in range(args.epochs):
            with torch.no_grad():
                advantage(batch)
            flat = batch.reshape(-1)
            for idx in torch.randperm(flat.numel()).split(args.minibatch):
                terms = loss(flat[idx])
                total = terms["loss_objective"] + terms["loss_critic"] + terms["loss_entropy"]
                optim.zero_grad()
                total.backward()
                nn.utils.clip_grad_norm_(loss.parameters(), 1.0)
                optim.step()
        collector.update_policy_weights_()
        bar.update(batch.numel())
        bar.set_postfix(reward=f"{batch['next', 'reward'].mean().item():.3f}")
    bar.close()
    collector.shutdown()
    seconds = time.perf_counter() - start
    print(f"PPO: {frames} imagined steps in {seconds:.1f} s ({frames / seconds:.0f} steps/s)")

    # judge it: the same reset seeds in imagination (the torchrl env) and in MuJoCo
    seeds = [10_000 + i for i in range(args.eval_episodes)]
    returns = {"imagined": [], "mujoco": []}
    mujoco_env = gym.make(task.gym_id, max_episode_steps=args.max_episode_steps)
    one = TransformedEnv(
        make_torchrl_env(num_envs=1, weights=weights, device=args.device, max_episode_steps=args.max_episode_steps),
        DoubleToFloat(),
    )
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        for seed in seeds:
            one.set_seed(seed)
            rollout = one.rollout(args.max_episode_steps, actor)
            returns["imagined"].append(rollout["next", "reward"].sum().item())
            obs, _ = mujoco_env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                action = actor(TensorDict(observation=torch.as_tensor(obs, dtype=torch.float32)))["action"]
                obs, reward, terminated, truncated, _ = mujoco_env.step(action.numpy())
                total, done = total + float(reward), terminated or truncated
            returns["mujoco"].append(total)
    im, mj = np.array(returns["imagined"]), np.array(returns["mujoco"])
    print(
        f"return over {len(seeds)} episodes: imagined {im.mean():.1f} +- {im.std():.1f}, "
        f"MuJoCo {mj.mean():.1f} +- {mj.std():.1f}, gap {im.mean() - mj.mean():+.1f}"
    )
    mujoco_env.close()


if __name__ == "__main__":
    main()
