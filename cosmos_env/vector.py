"""The imagined environment: N envs stepped by one batched call of the world model.

``WorldModelVectorEnv`` is a :class:`gymnasium.vector.VectorEnv`. Each step runs Predict
once for all N envs (imagining the next latent frame and proprio observation), Reason
once (reward, termination, plausibility), and decodes frames only when the observation
or ``render()`` needs pixels. The single :class:`cosmos_env.env.WorldModelEnv` is a view
of this class with N = 1.

Starts come from the MuJoCo reference: after ``reset(seed=s)`` env i stands exactly where
the MuJoCo task does after ``reset(seed=s + i)`` (its frame and observation), so the same
actions can be replayed in both. ``options`` may instead start from a dataset episode
(``{"dataset": path, "episode": i, "row": t}``), from given frames (``{"rgb": (N, H, W, 3)
uint8, "obs": (N, D)}``) or from given clips, to start in motion (``{"rgb": (N, T, H, W, 3),
"obs": (N, T, D), "actions": (N, T-1, A)}``, e.g. MuJoCo's last steps: the env stands at
the last row, the earlier ones its context); ``{"reset_mask": (N,) bool}`` resets
only some envs. Finished envs reset in the same step (``autoreset_mode`` SAME_STEP, as
gymnasium's SyncVectorEnv does it): the observation returned is the new episode's first,
and ``info["final_obs"]`` / ``info["final_info"]`` hold the true last ones; the other
envs' episodes continue untouched. ``max_episode_steps`` truncates, as ``TimeLimit``
does for the single env.

``start_pool`` (a dataset directory) makes every reset without options, and every
autoreset, start from a random row of that dataset instead (MBPO's and Dreamer's starts
from real states): env i draws its (episode, row) from its reset seed and starts from the
real clip of the last ``context`` rows up to it (frames, observations and actions, so it
starts in motion). With ``max_episode_steps=H`` that gives short branched rollouts.

``sampler_steps``, ``best_of`` and ``context_noise`` make the env's
:class:`worldmodels.sampler.SamplingConfig`, built once and passed whole to every step.
``critic=False`` skips Reason where nothing needs it (rules for reward and termination,
``best_of=1``): ``info`` then has no plausibility or critic figures, a step costs a
quarter less on the v2 models, and a world model without ``reason/`` can be stepped.

Reward and termination come from the task's own functions applied to the imagined
observation (``reward_fn="rules"``, ``termination_fn="rules"``: :mod:`cosmos_env.proprio_rules`,
for Hopper, HalfCheetah and Walker2d) or from Reason (``"critic"``). The default (None) is
the rules where the task has them, else the critic: on the shipped models the rules rank
SAC policies as MuJoCo does far better (``docs/evaluation/``). Where the rules exist,
``info`` carries both (``critic_reward``, ``rules_reward``, ``critic_terminated``,
``rules_terminated``), so one rollout can be judged both ways. A task whose MuJoCo
reference cannot terminate never terminates here. ``info["termination_reason"]`` says why
each terminated env ended (``"rules: z 0.664 not in (0.7, inf)"``, ``"critic: P(terminated)
0.83 > 0.5"``; "" for the others).

Version history (``cosmos_env/Hopper-v0``, ``cosmos_env/HalfCheetah-v0``): 0.1.0 rewards
and terminations from Reason; since 0.2.0 from the rules by default (``reward_fn`` /
``termination_fn="critic"`` gives the old behaviour), per-env sampling noise. Later ids
are new models (``cosmos_env/weights/<task>-v<N>/MODEL_CARD.md``): ``-v1`` the v2 world
model (mixed-behaviour data, a few-step shortcut sampler, cached context); ``Hopper-v2``
and ``HalfCheetah-v2`` a narrow decoder (and for HalfCheetah a retrained critic);
``HalfCheetah-v3`` that decoder trained on against a patch discriminator (sharper frames);
``Hopper-v3`` Hopper-v2 with a small critic whose imagined clips learned reward and
termination too (``stage.label_imagined``; faster steps, same default judge);
``Hopper-v4`` Hopper-v3's files sampled in 3 shortcut steps (1/2, 1/4, 1/4) instead of 4
(a pass fewer per step; ``sampler_steps=4`` draws as Hopper-v3 does); ``Hopper-v5``
Hopper-v4 with a half-cost decoder (widths [8, 8, 16]) trained against a discriminator
(sharper pixel frames, same latents and state observations).

``style`` draws pixel observations and ``render()`` through Transfer (a world model with
``transfer/``, :mod:`worldmodels.transfer`) from the decoder's canonical RGB, depth and
segmentation: None (the canonical decode), a preset name (:data:`cosmos_env.styles.PRESETS`),
``"random"`` (a new style per episode, from the env's reset seed), a vector of 12, or
(N, 12) vectors, one per env;
``control_weights`` ({"edge", "blur", "depth", "seg"}: scalars or (N, H, W) maps; default
1 each, normalised) weighs the controls. ``info["style"]`` holds each env's style vector.

Actions outside the bounds are clipped, as MuJoCo clamps its controls (Reason's reward
sees the clipped action, so its control cost is that of the action MuJoCo applies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cosmos_env.proprio_rules import SUPPORTED as RULES_TASKS
from cosmos_env.proprio_rules import ProprioRules
from cosmos_env.reference import MujocoReference
from cosmos_env.styles import STYLE_FIELDS, as_style
from cosmos_env.tasks import TaskConfig, load_task
from worldmodels.checkpoint import read_config
from worldmodels.controls import CONTROLS
from worldmodels.rollout import History
from worldmodels.sampler import SamplingConfig
from worldmodels.world_model import WorldModel

OBS_MODES = ("state", "pixels", "dict")
START_MARGIN = 20.0
"""A start observation may lie this many dataset stds from the training data's mean."""
JUDGES = ("critic", "rules")
"""Where reward and termination come from: Reason, or the task's rules on the observation."""


def resolve_weights(weights: str | Path | None, task: str | TaskConfig | None) -> Path:
    """A world model directory: ``weights`` itself, or the shipped model of ``task``."""
    from cosmos_env.shipped import WEIGHTS, shipped_models, weights_dir

    if weights is not None:
        path = Path(weights)
        if not (path / "predict").is_dir():
            if str(weights) in shipped_models():  # a shipped folder's name, e.g. "hopper-v1"
                return WEIGHTS / str(weights)
            raise FileNotFoundError(f"{path}: not a world model directory (needs tokenizer/, predict/ and reason/)")
        return path
    if task is None:
        raise ValueError("pass task= (a shipped model) or weights= (a world model directory)")
    return weights_dir(task if isinstance(task, str) else task.name)


def task_of(weights: Path) -> TaskConfig:
    """The task a world model was trained on, from its predict config."""
    task = read_config(weights / "predict")["extra"].get("task")
    if task is None:
        raise ValueError(f"{weights}/predict does not say which task it was trained on; pass task=")
    return load_task(task["name"]) if isinstance(task, dict) else load_task(task)


class WorldModelVectorEnv(VectorEnv):
    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP, "render_fps": 30}

    def __init__(
        self,
        num_envs: int = 1,
        task: str | TaskConfig | None = None,
        weights: str | Path | None = None,
        model: WorldModel | None = None,
        obs_mode: str = "state",
        device: str | torch.device = "cpu",
        sampler_steps: int | None = None,
        best_of: int = 1,
        context_noise: float | None = None,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        reward_fn: str | None = None,
        termination_fn: str | None = None,
        style: str | np.ndarray | list | None = None,
        control_weights: dict[str, Any] | None = None,
        start_pool: str | Path | None = None,
        critic: bool = True,
    ) -> None:
        for name, value in (("reward_fn", reward_fn), ("termination_fn", termination_fn)):
            if value not in (*JUDGES, None):
                raise ValueError(f"unknown {name} {value!r}; known: {', '.join(JUDGES)}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; known: {', '.join(OBS_MODES)}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; this env renders 'rgb_array'")
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode not in (AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
            raise ValueError(f"autoreset_mode {autoreset_mode} is not supported; use SAME_STEP or DISABLED")
        # how every step is sampled; raises ValueError for bad values before any model loads
        sampling = SamplingConfig(steps=sampler_steps, best_of=best_of, context_noise=context_noise)
        if model is None:
            path = resolve_weights(weights, task)
            model = WorldModel.from_pretrained(path, device=device)
            task = task or task_of(path)
        elif task is None:
            raise ValueError("with model= pass task= as well")
        if model.reason is None and critic:
            raise ValueError(
                "this world model has no Reason critic (reason/) to give rewards; train one with "
                "`cosmos-env train stage=reason`, or pass critic=False to judge by the task's rules"
            )
        if style is not None:
            if model.transfer is None:
                raise ValueError(
                    "style= needs a world model with a Transfer model (transfer/); train one with stage=transfer"
                )
            if not isinstance(style, str) and np.ndim(style) == 2:
                if np.shape(style)[0] != num_envs:
                    raise ValueError(f"per-env styles must be ({num_envs}, {len(STYLE_FIELDS)}), got {np.shape(style)}")
                style = np.stack([as_style(row) for row in style])  # a bad vector fails here
            elif not (isinstance(style, str) and style == "random"):
                as_style(style)  # a bad name or vector fails here, naming the presets
        self.style, self.control_weights = style, dict(control_weights or {m: 1.0 for m in CONTROLS})

        self.task = load_task(task) if isinstance(task, str) else task
        if "rules" in (reward_fn, termination_fn) and self.task.name not in RULES_TASKS:
            raise ValueError(f"no proprio rules for task {self.task.name!r} (written for {', '.join(RULES_TASKS)})")
        self.rules = ProprioRules.for_task(self.task) if self.task.name in RULES_TASKS else None
        self.start_pool = None
        if start_pool is not None:
            from cosmos_env.data import EpisodeDataset

            self.start_pool = EpisodeDataset(start_pool)
            if self.start_pool.meta["task"]["name"] != self.task.name:
                pool_task = self.start_pool.meta["task"]["name"]
                raise ValueError(f"start_pool {start_pool} holds {pool_task} episodes, not {self.task.name}'s")
        default = "rules" if self.rules is not None else "critic"
        self.reward_fn, self.termination_fn = reward_fn or default, termination_fn or default
        if not critic and ("critic" in (self.reward_fn, self.termination_fn) or best_of > 1):
            raise ValueError(
                f"critic=False leaves no critic, but reward_fn={self.reward_fn!r}, termination_fn="
                f"{self.termination_fn!r} and best_of={best_of} need one (use the rules and best_of=1)"
            )
        self.critic = critic
        self.model, self.device = model, model.device
        self.num_envs, self.obs_mode, self.render_mode = num_envs, obs_mode, render_mode
        self.sampling = sampling
        self.max_episode_steps, self.autoreset_mode = max_episode_steps, autoreset_mode
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}

        self.reference = MujocoReference(self.task)
        self.single_action_space = self.reference.action_space
        state = self.reference.observation_space
        pixels = gym.spaces.Box(0, 255, (self.task.height, self.task.width, 3), np.uint8)
        self.single_observation_space = {
            "state": state,
            "pixels": pixels,
            "dict": gym.spaces.Dict({"state": state, "pixels": pixels}),
        }[obs_mode]
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._low = torch.as_tensor(self.single_action_space.low, device=self.device)
        self._high = torch.as_tensor(self.single_action_space.high, device=self.device)

        self.history: History | None = None
        self._frames: torch.Tensor | None = None  # (N, H, W, 3) uint8, see _decoded_frames
        self._fresh = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._state = np.zeros((num_envs, state.shape[0]), dtype=np.float64)  # the current observations
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._seeds = np.full(num_envs, -1, dtype=np.int64)
        self._styles = np.zeros((num_envs, len(STYLE_FIELDS)))  # each env's style (with style=)
        # env i's sampling noise comes from its own generator, seeded at its reset: its
        # trajectory depends on its seed and actions only, whatever the batch
        self._generators = [torch.Generator(device=self.device) for _ in range(num_envs)]

    # -- reset ---------------------------------------------------------------------------
    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """``seed``: an integer (env i gets seed + i) or one integer per env; ``options``: see
        the module docstring. Raises ValueError naming the option or seed that is wrong."""
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        if self.history is None and not mask.all():
            raise ValueError("the first reset must reset every env")
        seeds = self._reset_seeds(seed)
        if not mask.any():  # nothing to reset: the envs carry on
            return self._observe(), self._reset_info("none")
        *start, source = self._starts(np.flatnonzero(mask), seeds, options)
        self._start(mask, *start, seeds=seeds)
        self._seeds[mask] = seeds[mask] if source == "mujoco" else -1
        return self._observe(), self._reset_info(source)

    def _reset_info(self, source: str) -> dict[str, np.ndarray]:
        info = {
            "reference_id": np.array([self.task.gym_id] * self.num_envs),
            "start": np.array([source] * self.num_envs),
            "reference_seed": self._seeds.copy(),
        }
        if self.style is not None:
            info["style"] = self._styles.copy()
        return info

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.dtype != bool or array.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must be ({self.num_envs},) bool, got {array.shape} {array.dtype}")
        return array

    def _reset_seeds(self, seed: Any) -> np.ndarray:
        """(N,) int64 seeds: from an integer (seed + i), one per env, or drawn when None."""
        if seed is None:
            return self.np_random.integers(0, 2**31 - 1, self.num_envs)
        array = np.asarray(seed)
        if array.dtype.kind not in "iu" or array.ndim > 1:
            raise ValueError(f"seed must be an integer or a list of {self.num_envs} integers, got {seed!r}")
        if array.ndim == 1 and array.shape != (self.num_envs,):
            raise ValueError(f"seed lists must have one seed per env ({self.num_envs}), got {len(array)}")
        seeds = np.arange(int(array), int(array) + self.num_envs) if array.ndim == 0 else array.astype(np.int64)
        if (seeds < 0).any():
            raise ValueError(f"seeds must be >= 0, got {seeds.min()}")
        super().reset(seed=int(seeds[0]))
        return seeds

    def _starts(self, envs: np.ndarray, seeds: np.ndarray, options: dict) -> tuple[torch.Tensor, np.ndarray, str]:
        """First frames (n, H, W, 3) uint8 and observations (n, D) float64 for the envs to reset."""
        groups = {"frames": {"rgb", "obs", "actions"}, "dataset": {"dataset", "episode", "row"}}
        used = [name for name, keys in groups.items() if keys & set(options)]
        unknown = set(options) - set().union(*groups.values())
        if unknown or len(used) > 1:
            raise ValueError(
                f"reset options {sorted(options)}: "
                + (f"unknown {sorted(unknown)}" if unknown else "give frames (rgb + obs) or a dataset, not both")
                + "; known: reset_mask, dataset (+ episode, row), rgb + obs (+ actions)"
            )
        if used == ["frames"]:
            return (*self._frame_starts(envs, options), "frames")
        if used == ["dataset"]:
            return (*self._dataset_starts(envs, options), "dataset")
        if self.start_pool is not None:
            return (*self._pool_starts(envs, seeds), "pool")
        frames, observations = [], []
        for i in envs:
            o, _ = self.reference.reset(seed=int(seeds[i]))
            frames.append(self.reference.render().rgb)
            observations.append(o)
        return torch.from_numpy(np.stack(frames)), np.stack(observations).astype(np.float64), "mujoco"

    def _frame_starts(self, envs: np.ndarray, options: dict) -> tuple:
        """Frames (n, H, W, 3) and observations (n, D) given in ``options``, or clips
        (n, T, H, W, 3), (n, T, D) and the actions between them (n, T-1, A)."""
        if not {"rgb", "obs"} <= set(options):
            raise ValueError(f"a start from frames needs both options 'rgb' and 'obs', got {sorted(options)}")
        rgb, obs = np.asarray(options["rgb"]), np.asarray(options["obs"], dtype=np.float64)
        clip = rgb.ndim == 5
        n, (h, w), d = self.num_envs, (self.task.height, self.task.width), self._state.shape[1]
        t = rgb.shape[1] if clip else None
        if rgb.shape != ((n, t, h, w, 3) if clip else (n, h, w, 3)) or rgb.dtype != np.uint8:
            raise ValueError(
                f"options['rgb'] must be ({n}, {h}, {w}, 3) uint8 frames or ({n}, T, {h}, {w}, 3) clips, "
                f"got {rgb.shape} {rgb.dtype}"
            )
        if obs.shape != ((n, t, d) if clip else (n, d)):
            raise ValueError(f"options['obs'] must be ({n}, {'T, ' if clip else ''}{d}), got {obs.shape}")
        if clip and not np.isfinite(obs).all():
            i, row, dim = (int(x) for x in np.argwhere(~np.isfinite(obs))[0])
            raise ValueError(f"options['obs'][{i}, {row}, {dim}] = {obs[i, row, dim]} is not finite")
        self._check_start_obs(obs[:, -1] if clip else obs, envs, "-1, " if clip else "")
        if not clip:
            if "actions" in options:
                raise ValueError("options['actions'] goes with clips: rgb (N, T, H, W, 3), obs (N, T, D)")
            return torch.from_numpy(rgb[envs]), obs[envs]
        a = self.single_action_space.shape[0]
        actions = np.asarray(options.get("actions", np.zeros((n, 0, a))), dtype=np.float32)
        if actions.shape != (n, t - 1, a) or not np.isfinite(actions).all():
            raise ValueError(f"options['actions'] must be ({n}, {t - 1}, {a}) finite, got {actions.shape}")
        return torch.from_numpy(rgb[envs]), obs[envs], torch.from_numpy(actions[envs])

    def _pool_starts(self, envs: np.ndarray, seeds: np.ndarray) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
        """Real clips of the start pool: frames (n, K, H, W, 3), observations (n, K, D) and the
        actions between them (n, K-1, A), each env's row drawn from its seed."""
        pool, k = self.start_pool, self.model.context
        clips = []
        for i in envs:
            rng = np.random.default_rng([int(seeds[i]), 2])
            episode = int(rng.integers(len(pool)))
            row = int(rng.integers(pool.episodes[episode].rows - 1))  # not the last row: a step follows it
            first = max(0, row - k + 1)
            clip = pool.rows(episode, first, row + 1, ("rgb", "obs", "action"))
            pad = k - (row + 1 - first)  # an episode's first rows: its first frame repeated, zero actions
            rgb = np.concatenate([np.repeat(clip["rgb"][:1], pad, 0), clip["rgb"]])
            obs = np.concatenate([np.repeat(clip["obs"][:1], pad, 0), clip["obs"]])
            actions = np.concatenate([np.zeros((pad, clip["action"].shape[1]), np.float32), clip["action"][:-1]])
            clips.append((rgb, obs, actions))
        rgb, obs, actions = (np.stack(parts) for parts in zip(*clips))
        return torch.from_numpy(rgb), obs.astype(np.float64), torch.from_numpy(actions)

    def _check_start_obs(self, obs: np.ndarray, envs: np.ndarray, row: str = "") -> None:
        """Raise ValueError naming the env and dimension (after ``row``, a clip's ``"-1, "``) of
        a start observation that is not finite or lies over :data:`START_MARGIN` dataset stds
        from the training data's mean."""
        mean = self.model.predict.obs_mean.double().cpu().numpy()
        std = self.model.predict.obs_std.double().cpu().numpy()
        for i in envs:
            with np.errstate(invalid="ignore", over="ignore"):
                far = ~(np.abs(obs[i] - mean) / std <= START_MARGIN)  # NaN counts as far
            if far.any():
                d = int(np.flatnonzero(far)[0])
                raise ValueError(
                    f"env {i}: options['obs'][{i}, {row}{d}] = {obs[i, d]} is not finite or over {START_MARGIN:g} "
                    f"stds from the model's training data (mean {mean[d]:.3g}, std {std[d]:.3g})"
                )

    def _dataset_starts(self, envs: np.ndarray, options: dict) -> tuple[torch.Tensor, np.ndarray]:
        """Frames and observations at ``options``' dataset rows (episode, row: one or one per env)."""
        from cosmos_env.data import EpisodeDataset

        if "dataset" not in options:
            raise ValueError(f"options {sorted(options)} name episodes or rows but no 'dataset'")
        data = options["dataset"]
        data = data if isinstance(data, EpisodeDataset) else EpisodeDataset(data)
        index = {}
        for key in ("episode", "row"):
            value = np.asarray(options.get(key, 0))
            if value.dtype.kind not in "iu" or value.ndim > 1 or (value.ndim == 1 and len(value) != self.num_envs):
                raise ValueError(f"options[{key!r}] must be an integer or {self.num_envs} integers, got {value!r}")
            index[key] = np.broadcast_to(value, (self.num_envs,))
        starts = []
        for i in envs:
            episode, row = int(index["episode"][i]), int(index["row"][i])
            if not 0 <= episode < len(data):
                raise ValueError(f"env {i}: episode {episode} is not in the dataset ({len(data)} episodes)")
            if not 0 <= row < data.episodes[episode].rows:
                raise ValueError(f"env {i}: row {row} is not in episode {episode} ({data.episodes[episode].rows} rows)")
            starts.append(data.rows(episode, row, row + 1, ("rgb", "obs")))
        rgb = torch.from_numpy(np.concatenate([r["rgb"] for r in starts]))
        return rgb, np.concatenate([r["obs"] for r in starts]).astype(np.float64)

    def _start(
        self,
        mask: np.ndarray,
        rgb: torch.Tensor,
        obs: np.ndarray,
        actions: torch.Tensor | None = None,
        *,
        seeds: np.ndarray,
    ) -> None:
        """Start the envs of ``mask`` from frames (n, H, W, 3) and observations (n, D), or from
        clips (n, K, H, W, 3), (n, K, D) with the actions between (n, K-1, A)."""
        for i in np.flatnonzero(mask):
            self._generators[i].manual_seed(int(seeds[i]))
        fresh = self.model.start(rgb, torch.from_numpy(obs).float(), actions)
        if rgb.ndim == 5:  # a clip: the env stands at its last row
            rgb, obs = rgb[:, -1], obs[:, -1]
        index = torch.as_tensor(np.flatnonzero(mask), device=self.device)
        if self.history is None:
            self.history = fresh
            self._frames = rgb.to(self.device).clone()
        else:
            self.history = self.history.assign(index, fresh)
            self._frames[index] = rgb.to(self.device)
        self._state[mask] = obs  # exactly the start's observation, not its float32 copy
        self._fresh[index] = self.style is None  # a styled start frame is drawn by Transfer too
        self._steps[mask] = 0
        if self.style is not None:
            per_env = isinstance(self.style, np.ndarray) and self.style.ndim == 2
            for i in np.flatnonzero(mask):
                rng = np.random.default_rng([int(seeds[i]), 1])  # as collect draws an episode's style
                self._styles[i] = self.style[i] if per_env else as_style(self.style, rng)

    # -- step ----------------------------------------------------------------------------
    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self.history is None:
            raise RuntimeError("call reset() before step()")
        action = self._check_actions(actions)
        imagined = self.model.step(self.history, action, self.sampling, self._generators, judge=self.critic)
        self.history = imagined.history
        previous, self._state = self._state, imagined.obs.double().cpu().numpy()
        self._fresh[:] = False
        self._steps += 1
        info: dict[str, Any] = {"episode_step": self._steps.copy()}
        if self.critic:
            info.update(
                plausibility=imagined.plausibility.cpu().numpy(),
                terminated_probability=imagined.terminated.cpu().numpy(),
                critic_reward=imagined.reward.double().cpu().numpy(),
                critic_terminated=(imagined.terminated > 0.5).cpu().numpy() & self.task.terminates,
            )
        if self.rules is not None:
            info["rules_reward"] = self.rules.reward(previous, self._state, action.double().cpu().numpy())
            info["rules_terminated"] = self.rules.terminated(self._state) & self.task.terminates
        reward = info[f"{self.reward_fn}_reward"].copy()
        terminated = info[f"{self.termination_fn}_terminated"].copy()
        frame_ok = torch.isfinite(imagined.latent).flatten(1).all(1).cpu().numpy()
        broken = ~(np.isfinite(self._state).all(1) & np.isfinite(reward) & frame_ok)
        if broken.any():  # a non-finite imagined value ends the episode rather than continuing as NaN
            terminated |= broken
            info["error"] = np.where(broken, "non-finite imagined frame, observation or reward", "")
            info["_error"] = broken
        if terminated.any():
            info["termination_reason"] = self._termination_reasons(terminated, broken, info)
            info["_termination_reason"] = terminated.copy()
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = (self._steps >= self.max_episode_steps) & ~terminated
        obs = self._observe()
        done = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            final = np.empty(self.num_envs, dtype=object)
            final_info = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(done):
                final[i] = env_row(obs, i)
                final_info[i] = {k: v[i] for k, v in info.items()}
            info.update(
                {"final_obs": final, "_final_obs": done.copy(), "final_info": final_info, "_final_info": done.copy()}
            )
            seeds = self.np_random.integers(0, 2**31 - 1, self.num_envs)
            *start, _ = self._starts(np.flatnonzero(done), seeds, {})
            self._start(done, *start, seeds=seeds)
            self._seeds[done] = seeds[done]
            obs = self._observe()
        info["reference_seed"] = self._seeds.copy()
        if self.style is not None:
            info["style"] = self._styles.copy()
        return obs, reward, terminated, truncated, info

    def _termination_reasons(self, terminated: np.ndarray, broken: np.ndarray, info: dict) -> np.ndarray:
        """(N,) str: why each terminated env ended ("" for the others)."""
        reasons = np.full(self.num_envs, "", dtype=object)
        for i in np.flatnonzero(terminated):
            if broken[i]:
                reasons[i] = "non-finite imagined value"
            elif self.termination_fn == "rules":
                reasons[i] = f"rules: {self.rules.why_terminated(self._state[i])}"
            else:
                reasons[i] = f"critic: P(terminated) {info['terminated_probability'][i]:.2f} > 0.5"
        return reasons

    def _check_actions(self, actions: Any) -> torch.Tensor:
        expected = (self.num_envs, *self.single_action_space.shape)
        if isinstance(actions, torch.Tensor):
            if actions.dtype.is_complex or actions.dtype == torch.bool:
                raise TypeError(f"actions must be real numbers, got {actions.dtype}")
            action = actions.detach().to(self.device)
        else:
            array = np.asarray(actions)
            if array.dtype.kind not in "fiu":
                raise TypeError(f"actions must be real numbers, got dtype {array.dtype}")
            action = torch.as_tensor(array, device=self.device)
        if tuple(action.shape) != expected:
            raise ValueError(f"actions must have shape {expected}, got {tuple(action.shape)}")
        action = action.float()
        if not torch.isfinite(action).all():
            bad = sorted(set(torch.nonzero(~torch.isfinite(action))[:, 0].tolist()))
            raise ValueError(f"actions contain NaN or inf (envs {bad})")
        return torch.maximum(torch.minimum(action, self._high), self._low)

    # -- observations and frames ---------------------------------------------------------
    def _observe(self) -> Any:
        state = self._state.copy()
        if self.obs_mode == "state":
            return state
        pixels = self.frames()
        return pixels if self.obs_mode == "pixels" else {"state": state, "pixels": pixels}

    def frames(self, envs: Any = None) -> np.ndarray:
        """The current frames of ``envs`` (indices; None: all), (n, H, W, 3) uint8: the real
        one at a start, decoded from the imagined latent after a step (once, when first
        asked for; only the envs asked for are decoded)."""
        index = torch.arange(self.num_envs, device=self.device) if envs is None else torch.as_tensor(envs)
        index = index.to(self.device).reshape(-1)
        stale = index[~self._fresh[index]]
        if len(stale):
            history = self.history.select(stale, with_cache=False)  # decoding needs no keys and values
            if self.style is None:
                self._frames[stale] = self.model.decode_latest(history, rgb_only=True)["rgb"]
            else:
                styles = torch.as_tensor(self._styles[stale.cpu().numpy()], dtype=torch.float32)
                self._frames[stale] = self.model.render_styled(history, styles, self._weights_of(stale))
            self._fresh[stale] = True
        return self._frames[index].to("cpu", copy=True).numpy()

    def _weights_of(self, envs: torch.Tensor) -> dict[str, Any]:
        """The control weights of some envs: scalars as they are, (N, H, W) maps' rows."""
        out = {}
        for name, w in self.control_weights.items():
            w = torch.as_tensor(w, dtype=torch.float32)
            out[name] = w if w.ndim == 0 else w.to(envs.device)[envs]
        return out

    def render(self) -> np.ndarray | None:
        """The current frames of all envs, (N, H, W, 3) uint8."""
        if self.render_mode is None:
            gym.logger.warn("render() without render_mode='rgb_array' returns None")
            return None
        return self.frames()

    def close_extras(self, **kwargs: Any) -> None:
        self.reference.close()


def env_row(obs: Any, i: int) -> Any:
    """Env i's observation out of a batched one (an array or a dict of arrays)."""
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
