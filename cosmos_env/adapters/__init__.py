"""Adapters of the batched imagined env to RL libraries: :mod:`.sb3` (a stable-baselines3
``VecEnv``) and :mod:`.torchrl` (a torchrl ``EnvBase``). Each imports its library only
when used."""
