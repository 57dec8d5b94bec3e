"""Imitation (behaviour cloning, inverse dynamics) and RL glue for cosmos-env."""
