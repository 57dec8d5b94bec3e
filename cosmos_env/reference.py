"""The MuJoCo reference: a gymnasium MuJoCo task that also renders depth and segmentation.

It makes the training data and is the ground truth every world model is judged against.
One ``mujoco.Renderer`` per reference, reused for every frame, with no shadows,
reflections or multisampling.

>>> ref = MujocoReference("hopper")
>>> obs, info = ref.reset(seed=0)
>>> frame = ref.render()
>>> frame.rgb.shape, frame.depth.dtype, frame.segmentation.dtype
((64, 64, 3), dtype('float32'), dtype('uint8'))
>>> ref.close()
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

from cosmos_env.styles import StyleEditor, as_style, preset
from cosmos_env.tasks import TaskConfig, load_task

# everything the next step depends on (see docs/design-notes.md)
_STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION
_GEOM = int(mujoco.mjtObj.mjOBJ_GEOM)


class MujocoWarning(UserWarning):
    """A warning MuJoCo's C library raised (e.g. a deprecated attribute in gymnasium's XML)."""


@contextlib.contextmanager
def mujoco_warnings_once() -> Iterator[None]:
    """Within: MuJoCo's warnings become Python :class:`MujocoWarning`\\ s, which the default
    filter shows once per process (MuJoCo prints each at every model load otherwise); a
    handler the caller set is kept and restored after."""
    previous = mujoco.get_mju_user_warning()
    if previous is None:
        mujoco.set_mju_user_warning(lambda message: warnings.warn(message, MujocoWarning, stacklevel=1))
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def make_mujoco(gym_id: str, **kwargs) -> gym.Env:
    """``gym.make(gym_id, **kwargs)`` with :func:`mujoco_warnings_once`."""
    with mujoco_warnings_once():
        return gym.make(gym_id, **kwargs)


@dataclass(frozen=True)
class Frame:
    """What a camera sees at one step."""

    rgb: np.ndarray
    """(H, W, 3) uint8."""
    depth: np.ndarray
    """(H, W) float32, metres from the camera; the far plane where nothing is hit."""
    segmentation: np.ndarray
    """(H, W) uint8 ids: 0 is background, geom (or body) id + 1 otherwise."""


class MujocoReference:
    """A gymnasium MuJoCo task with RGB, depth and segmentation at every step.

    ``reset``/``step`` follow gymnasium (the time limit is the ``TimeLimit`` wrapper's,
    ``task.max_episode_steps``). ``render()`` returns a :class:`Frame`.
    ``get_state()``/``set_state()`` capture the full physics state, so a world model and
    the reference can start from the same state.
    """

    def __init__(self, task: TaskConfig | str) -> None:
        self.task = load_task(task) if isinstance(task, str) else task
        self.env = make_mujoco(
            self.task.gym_id,
            frame_skip=self.task.frame_skip,
            max_episode_steps=self.task.max_episode_steps,
        )
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        mujoco_env = self.env.unwrapped
        self.model: mujoco.MjModel = mujoco_env.model
        self.data: mujoco.MjData = mujoco_env.data
        self._get_obs = mujoco_env._get_obs

        self.model.vis.quality.offsamples = 0
        self.model.light_castshadow[:] = 0
        self.model.mat_reflectance[:] = 0
        try:
            self._renderer = mujoco.Renderer(self.model, self.task.height, self.task.width)
        except mujoco.FatalError as e:
            raise RuntimeError(
                f"MuJoCo could not create an OpenGL context (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {e}. "
                "Headless machines need MUJOCO_GL=egl (or osmesa) set before mujoco is first imported: "
                "import cosmos_env before mujoco, or export MUJOCO_GL=egl."
            ) from None
        self._camera = self._make_camera(mujoco_env)
        if self.model.ngeom >= 255:
            raise ValueError(f"{self.task.gym_id}: {self.model.ngeom} geoms do not fit uint8 ids")
        ids = np.arange(self.model.ngeom) + 1
        if self.task.segmentation == "body":
            ids = self.model.geom_bodyid + 1
        self._segmentation_ids = ids.astype(np.uint8)
        self._styles = StyleEditor(self.model)
        self.style = preset("canonical")
        """The appearance frames are rendered in (:mod:`cosmos_env.styles`); the physics ignores it."""
        self._styled: tuple[mujoco.MjModel, mujoco.Renderer, StyleEditor] | None = None
        self._styled_as: np.ndarray | None = None

    def _make_camera(self, mujoco_env: gym.Env) -> mujoco.MjvCamera | str:
        if self.task.camera is not None:
            if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, self.task.camera) < 0:
                raise ValueError(f"{self.task.gym_id} has no camera named {self.task.camera!r}")
            return self.task.camera
        # gymnasium's default view: a free camera set from the task's default_camera_config
        camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(self.model, camera)
        for key, value in (mujoco_env.mujoco_renderer.default_cam_config or {}).items():
            if isinstance(value, np.ndarray):
                getattr(camera, key)[:] = value
            else:
                setattr(camera, key, value)
        if self.task.camera_pose is not None:
            *lookat, camera.distance, camera.azimuth, camera.elevation = self.task.camera_pose
            camera.lookat[:] = lookat
        return camera

    # -- gymnasium-style interaction ------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        return self.env.reset(seed=seed)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> Frame:
        """Render RGB, depth and segmentation from the task camera at the current state."""
        renderer = self._renderer
        renderer.update_scene(self.data, camera=self._camera)
        rgb = renderer.render()
        renderer.enable_depth_rendering()
        depth = renderer.render()
        renderer.disable_depth_rendering()
        renderer.enable_segmentation_rendering()
        seg = renderer.render()  # (H, W, 2): object id, object type
        renderer.disable_segmentation_rendering()
        is_geom = seg[..., 1] == _GEOM  # a plain int: comparing with the enum is per-element Python
        ids = np.where(is_geom, self._segmentation_ids[np.where(is_geom, seg[..., 0], 0)], 0)
        return Frame(rgb=rgb, depth=depth, segmentation=ids.astype(np.uint8))

    def set_style(self, style: str | np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Render from now on in ``style``: a preset name, ``"random"`` (drawn from ``rng``)
        or a vector (:func:`cosmos_env.styles.as_style`); returns the style vector. The
        physics, observations and depth are unchanged; segmentation ids too."""
        vector = as_style(style, rng)
        self._styles.apply(vector, self._renderer)
        self.style = vector
        return vector

    def render_styled(self, style: np.ndarray) -> np.ndarray:
        """RGB (H, W, 3) uint8 of the current state in ``style`` (a vector), from a second
        renderer on a copy of the model: :meth:`render` and :attr:`style` are untouched."""
        if self._styled is None:
            model = copy.deepcopy(self.model)
            self._styled = (model, mujoco.Renderer(model, self.task.height, self.task.width), StyleEditor(model))
        model, renderer, editor = self._styled
        if self._styled_as is None or not np.array_equal(style, self._styled_as):
            editor.apply(np.asarray(style, np.float64), renderer)
            self._styled_as = np.array(style, np.float64)
        renderer.update_scene(self.data, camera=self._camera)
        return renderer.render()

    # -- state ------------------------------------------------------------------------------

    @property
    def qpos(self) -> np.ndarray:
        return self.data.qpos.copy()

    @property
    def qvel(self) -> np.ndarray:
        return self.data.qvel.copy()

    def observation(self) -> np.ndarray:
        """The task's observation vector at the current state."""
        return self._get_obs()

    def get_state(self) -> np.ndarray:
        """The full integration state: time, qpos, qvel, actuator and warm-start state,
        controls and applied forces (what makes a restored run bit-identical)."""
        state = np.empty(mujoco.mj_stateSize(self.model, _STATE_SPEC))
        mujoco.mj_getState(self.model, self.data, state, _STATE_SPEC)
        return state

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Restore a state from :meth:`get_state`; returns the observation there.

        The episode's step counter (the ``TimeLimit``) is not part of the physics state.
        """
        state = np.asarray(state, dtype=np.float64)
        expected = mujoco.mj_stateSize(self.model, _STATE_SPEC)
        if state.shape != (expected,):
            raise ValueError(f"{self.task.gym_id} state must have shape ({expected},), got {state.shape}")
        mujoco.mj_setState(self.model, self.data, state, _STATE_SPEC)
        mujoco.mj_forward(self.model, self.data)
        return self.observation()

    def close(self) -> None:
        if self._styled is not None:
            self._styled[1].close()
        self._renderer.close()
        self.env.close()

    def __enter__(self) -> MujocoReference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
