"""The settings of each training stage (``cosmos-env train stage=<name>``).

One frozen dataclass per stage, the only place its defaults are set: the stage YAML
(``cosmos_env/conf/stage/<name>.yaml``) adds only the paths that depend on the task, and
the stage's loss function (:mod:`worldmodels.losses`) reads its settings from here.
Bad values raise ValueError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class ReconstructionWeights:
    """Weights of :func:`worldmodels.losses.reconstruction_loss`'s terms beside its L1 term (weight 1)."""

    ssim: float = 0.2
    gradient: float = 1.0
    depth: float = 1.0
    segmentation: float = 0.1

    def __post_init__(self) -> None:
        for name in ("ssim", "gradient", "depth", "segmentation"):
            _check(getattr(self, name) >= 0, f"loss.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class TokenizerStageConfig:
    """stage=tokenizer: frames <-> latents."""

    size: str = "small"
    """Model size preset (:data:`worldmodels.tokenizer.TOKENIZER_SIZES`)."""
    frames: int = 4
    """Frames per training clip (the tokenizer is causal in time)."""
    loss: ReconstructionWeights = field(default_factory=ReconstructionWeights)
    name: str = "tokenizer"

    def __post_init__(self) -> None:
        _check(self.frames >= 1, f"frames must be >= 1, got {self.frames}")


@dataclass(frozen=True)
class PredictStageConfig:
    """stage=predict: latent dynamics on a trained tokenizer's latents
    (:func:`worldmodels.losses.predict_loss`)."""

    tokenizer: str
    """The trained tokenizer's model directory."""
    size: str = "small"
    """Model size preset (:data:`worldmodels.predict.PREDICT_SIZES`)."""
    context: int = 4
    """Context frames before the predicted one (a banded model attends this many back)."""
    horizon: int = 1
    """Target frames after the context in each training window (window = context + horizon)."""
    context_noise: float = 0.3
    """Context frames are noised to tau ~ U(0, context_noise)."""
    clean_context_fraction: float = 0.5
    """Of context frames, those left clean."""
    pure_noise_fraction: float = 0.9
    """Of target frames, those noised to tau = 1 (where one-step sampling starts); the rest tau ~ U(0, 1)."""
    obs_weight: float = 1.0
    """Weight of the observation's x0 error beside the latent's."""
    curation: str | None = None
    """A curation file (``cosmos-env curate``): train on the windows it keeps (None: all)."""
    shortcut_fraction: float = 0.25
    """Of the windows of a shortcut model, those that train a step larger than the base
    (self-consistency targets, :func:`worldmodels.losses.shortcut_targets`)."""
    self_forcing_fraction: float = 0.0
    """Of the windows, those whose context is the model's own open-loop imagination from
    their first frame (self forcing: learn to come back from one's own drift); the targets
    stay MuJoCo's."""
    self_forcing_frames: int = 2
    """Context frames imagined in a self-forcing window (frames 1..n; frame 0 is real)."""
    self_forcing_sampler_steps: int = 1
    """Sampler steps per imagined frame of a self-forcing window."""
    name: str = "predict"

    def __post_init__(self) -> None:
        _check(self.context >= 1, f"context must be >= 1, got {self.context}")
        _check(
            0 <= self.self_forcing_fraction <= 1,
            f"self_forcing_fraction must be in [0, 1], got {self.self_forcing_fraction}",
        )
        _check(
            self.self_forcing_fraction == 0 or 1 <= self.self_forcing_frames < self.context + self.horizon - 1,
            f"self_forcing_frames must be in [1, context + horizon - 2], got {self.self_forcing_frames}",
        )
        _check(self.horizon >= 1, f"horizon must be >= 1, got {self.horizon}")
        _check(0 <= self.shortcut_fraction <= 1, f"shortcut_fraction must be in [0, 1], got {self.shortcut_fraction}")
        _check(0 <= self.context_noise < 1, f"context_noise must be in [0, 1), got {self.context_noise}")
        for name in ("clean_context_fraction", "pure_noise_fraction"):
            _check(0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1], got {getattr(self, name)}")
        _check(self.obs_weight >= 0, f"obs_weight must be >= 0, got {self.obs_weight}")


@dataclass(frozen=True)
class ReasonStageConfig:
    """stage=reason: reward, termination and plausibility on clips of latents
    (:func:`worldmodels.losses.reason_loss`)."""

    tokenizer: str
    """The trained tokenizer's model directory."""
    predict: str | None
    """A trained Predict whose open-loop futures are plausibility negatives (None: corrupted clips only)."""
    size: str = "small"
    """Model size preset (:data:`worldmodels.reason.REASON_SIZES`)."""
    clip: int = 4
    """Frames per judged clip."""
    imagined_clips: int = 2048
    """Imagined clips made once (and cached) as negatives."""
    negatives: float = 1.0
    """Wrong clips per real clip in a batch."""
    label_imagined: bool = False
    """Also train reward and termination on the imagined clips, with the labels of the real
    clips they were imagined from (needs ``predict``)."""
    name: str = "reason"

    def __post_init__(self) -> None:
        _check(self.clip >= 2, f"clip must be >= 2 (a clip holds a transition), got {self.clip}")
        _check(self.imagined_clips >= 1, f"imagined_clips must be >= 1, got {self.imagined_clips}")
        _check(self.negatives > 0, f"negatives must be > 0, got {self.negatives}")
        _check(not self.label_imagined or self.predict is not None, "label_imagined needs a predict to imagine clips")


@dataclass(frozen=True)
class DecoderStageConfig:
    """stage=decoder: a tokenizer's decoder continued (or a new one trained) on its frozen
    encoder's latents and Predict's imagined ones (:func:`worldmodels.losses.decoder_loss`)."""

    tokenizer: str
    """The tokenizer whose decoder is continued."""
    predict: str | None
    """The Predict model whose imagined latents are decoded; None: the encoder's latents of
    real clips only (``horizon`` is then ignored)."""
    horizon: int = 4
    """Imagined frames after Predict's context in each training clip."""
    frames: int = 4
    """Real frames per training clip when ``predict`` is None."""
    age_buckets: int = 0
    """> 0: the decoder is told each frame's age in that many log2 buckets."""
    age_only: bool = False
    """Train the age conditioning alone (real latents decode exactly as before)."""
    decoder_channels: tuple[int, ...] | None = None
    """A new decoder of these stage widths, trained from scratch on the frozen encoder's
    latents (None: continue the tokenizer's own decoder)."""
    adversarial: float = 0.0
    """> 0: add a patch discriminator's hinge loss on the RGB frames, this weight times the
    ratio of gradient norms that matches it to the reconstruction loss
    (:func:`worldmodels.losses.adversarial_loss`); 0: none. Sharper frames than L1 alone
    draws; best on a decoder already trained without it."""
    discriminator: str = "small"
    """Discriminator size preset (:data:`worldmodels.discriminator.DISCRIMINATOR_SIZES`)."""
    loss: ReconstructionWeights = field(default_factory=ReconstructionWeights)
    name: str = "decoder"

    def __post_init__(self) -> None:
        _check(self.horizon >= 1, f"horizon (imagined frames per clip) must be >= 1, got {self.horizon}")
        _check(self.frames >= 2, f"frames (real frames per clip) must be >= 2, got {self.frames}")
        _check(self.age_buckets >= 0, f"age_buckets must be >= 0, got {self.age_buckets}")
        _check(self.adversarial >= 0, f"adversarial must be >= 0, got {self.adversarial}")
        _check(
            self.predict is not None or not (self.age_buckets or self.age_only),
            "age conditioning is learned on imagined latents: it needs a predict model",
        )
        _check(
            not (self.age_only and self.decoder_channels),
            "age_only trains the age conditioning of an existing decoder; a new one (decoder_channels) trains whole",
        )


@dataclass(frozen=True)
class TransferStageConfig:
    """stage=transfer: control maps of canonical frames -> the same frames in a style
    (:func:`worldmodels.losses.transfer_loss`); needs a dataset collected with styles=random."""

    size: str = "small"
    """Model size preset (:data:`worldmodels.transfer.TRANSFER_SIZES`)."""
    keep_probability: float = 0.75
    """Each modality's chance to be given in a training sample (at least one always is):
    branches learn to work alone and in any mix, and all four together (the env's
    default) in a third of the samples."""
    loss: ReconstructionWeights = field(default_factory=ReconstructionWeights)
    name: str = "transfer"

    def __post_init__(self) -> None:
        _check(0 < self.keep_probability <= 1, f"keep_probability must be in (0, 1], got {self.keep_probability}")


@dataclass(frozen=True)
class BCStageConfig:
    """stage=bc: behaviour cloning of a dataset's actions (:mod:`policies.bc`)."""

    obs: str = "state"
    """``state``, ``pixels`` (the last ``frames`` frames) or ``both``."""
    frames: int = 3
    size: str = "small"
    """Model size preset (``policies.bc.BC_SIZES``)."""
    transfer: str | None = None
    """A Transfer model directory: every training clip's frames are re-drawn by it in a random
    train-range style (domain randomisation; pixels only). None: the frames as recorded."""
    name: str = "bc"

    def __post_init__(self) -> None:
        _check(self.obs in ("state", "pixels", "both"), f"obs must be state, pixels or both, got {self.obs!r}")
        _check(self.frames >= 1, f"frames must be >= 1, got {self.frames}")
        _check(self.transfer is None or self.obs != "state", "transfer restyles frames: it needs obs=pixels or both")


@dataclass(frozen=True)
class IDMStageConfig:
    """stage=idm: an inverse dynamics model, two rows -> the action between (:mod:`policies.idm`)."""

    obs: str = "both"
    """``state``, ``pixels`` or ``both`` (two frames and two observations)."""
    size: str = "small"
    """Model size preset (``policies.idm.IDM_SIZES``)."""
    name: str = "idm"

    def __post_init__(self) -> None:
        _check(self.obs in ("state", "pixels", "both"), f"obs must be state, pixels or both, got {self.obs!r}")


@dataclass(frozen=True)
class ProbeStageConfig:
    """stage=probe: a pose probe, real frames -> the proprio observation
    (:func:`worldmodels.losses.probe_loss`), for the fidelity benchmark."""

    name: str = "probe"


@dataclass(frozen=True)
class PolicyStageConfig:
    """stage=policy: SAC or PPO (stable-baselines3) trained in imagination on the batched
    imagined env, judged in MuJoCo as it trains (:mod:`policies.sb3`). ``train.steps`` is
    the imagined env steps, ``train.seed`` the run's seed; the other ``train.*`` fields are
    the world-model trainer's and go unused."""

    algo: str = "sac"
    """``sac`` or ``ppo``."""
    weights: str | None = None
    """A world model directory; None: the task's shipped model."""
    num_envs: int = 16
    """Imagined envs stepped in one batch."""
    horizon: int | None = None
    """Imagined episodes are truncated after this many steps (short branched rollouts, as
    MBPO's); None: the task's episode length."""
    real_starts: bool = True
    """Episodes start from random rows of the run's dataset (``data=``; real states, in
    motion) instead of MuJoCo's reset states."""
    eval_every: int = 10_000
    """Imagined steps between evaluations in MuJoCo (each also checkpoints the run)."""
    eval_episodes: int = 5
    """MuJoCo episodes per evaluation, from the same reset seeds every time."""
    eval_horizon: int | None = None
    """Steps of an evaluation episode at most; None: the task's episode length."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    """Passed to the SB3 algorithm over :data:`policies.sb3.ALGO_DEFAULTS`, e.g.
    ``+stage.algo_kwargs.gradient_steps=4`` (Hydra's + adds a key)."""
    device: str = "cpu"
    """Where the world model runs (the policy trains on the CPU)."""
    real_steps: int = 0
    """The Dyna loop's budget of real MuJoCo steps (:mod:`policies.dyna`): each round collects
    ``round_real_steps`` with the policy (the first: random actions), fine-tunes Predict on
    all real data and trains the policy in imagination from real starts. 0: no loop, the
    policy trains on the world model as it is."""
    round_real_steps: int = 5_000
    finetune_steps: int = 500
    """Predict training steps per round."""
    collect_noise: float = 0.1
    """Std of the Gaussian noise on the actor's actions while collecting (half-range units)."""
    real_transitions: bool = False
    """Dyna with SAC: every real transition collected so far also joins the replay buffer
    beside the imagined ones (MBPO's real data; here in proportion to their counts), so the
    critic learns from what really happens as well as from the model."""
    name: str = "policy"

    def __post_init__(self) -> None:
        _check(self.algo in ("sac", "ppo"), f"algo must be sac or ppo, got {self.algo!r}")
        _check(self.num_envs >= 1, f"num_envs must be >= 1, got {self.num_envs}")
        _check(self.horizon is None or self.horizon >= 1, f"horizon must be >= 1 or None, got {self.horizon}")
        _check(self.eval_every >= 1, f"eval_every must be >= 1, got {self.eval_every}")
        _check(self.eval_episodes >= 1, f"eval_episodes must be >= 1, got {self.eval_episodes}")
        _check(
            self.eval_horizon is None or self.eval_horizon >= 1,
            f"eval_horizon must be >= 1 or None, got {self.eval_horizon}",
        )
        _check(self.real_steps >= 0, f"real_steps must be >= 0, got {self.real_steps}")
        _check(self.round_real_steps >= 1, f"round_real_steps must be >= 1, got {self.round_real_steps}")
        _check(self.finetune_steps >= 1, f"finetune_steps must be >= 1, got {self.finetune_steps}")
        _check(
            not self.real_transitions or (self.algo == "sac" and self.real_steps > 0),
            "real_transitions needs the Dyna loop (real_steps > 0) and an off-policy algo (sac)",
        )


STAGE_CONFIGS: dict[str, type] = {
    c.name: c
    for c in (
        TokenizerStageConfig,
        PredictStageConfig,
        ReasonStageConfig,
        DecoderStageConfig,
        ProbeStageConfig,
        TransferStageConfig,
        BCStageConfig,
        IDMStageConfig,
        PolicyStageConfig,
    )
}
"""Stage name -> its settings dataclass."""
