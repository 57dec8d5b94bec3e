"""Training losses, kept apart from the architectures they train."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from worldmodels.corrupt import CORRUPTIONS
from worldmodels.metrics import gradient_energy, psnr, ssim
from worldmodels.predict import PredictModel, previous_frame
from worldmodels.probe import PoseProbe
from worldmodels.reason import ReasonModel
from worldmodels.rollout import imagine_clips
from worldmodels.stages import PredictStageConfig, ReasonStageConfig, ReconstructionWeights, TransferStageConfig
from worldmodels.tokenizer import Tokenizer, depth_to_inverse
from worldmodels.transfer import TransferModel


def class_balanced_weights(segmentation: torch.Tensor, power: float = 0.5) -> torch.Tensor:
    """Pixel weights ~ frequency^-power of each pixel's segmentation class in the batch,
    scaled to mean 1. Without them a thin robot (a few % of the pixels) is worth less than
    the floor and a tokenizer learns to draw the scene without it."""
    ids = segmentation.long()
    counts = torch.bincount(ids.flatten(), minlength=int(ids.max()) + 1).float()
    weights = counts.clamp_min(1).pow(-power)[ids]
    return weights / weights.mean()


def image_gradient_l1(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted L1 between horizontal and vertical finite differences: keeps thin edges
    sharp. x, y (..., C, H, W); weight (..., H, W)."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    wx = torch.maximum(weight[..., :, 1:], weight[..., :, :-1]).unsqueeze(-3)
    wy = torch.maximum(weight[..., 1:, :], weight[..., :-1, :]).unsqueeze(-3)
    return ((dx(x) - dx(y)).abs() * wx).mean() + ((dy(x) - dy(y)).abs() * wy).mean()


def tokenizer_loss(
    net: Callable,
    num_segments: int,
    rgb: torch.Tensor,
    depth: torch.Tensor,
    segmentation: torch.Tensor,
    weights: ReconstructionWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    """rgb (B, T, H, W, 3) uint8, depth (B, T, H, W) metres, segmentation (B, T, H, W)
    ids: the tokenizer encodes and decodes the frames (:func:`reconstruction_loss`)."""
    frames = rgb.permute(0, 1, 4, 2, 3).float() / 255  # (B, T, 3, H, W)
    _, out = net(frames)
    return reconstruction_loss(out, num_segments, frames, depth, segmentation, weights)


def reconstruction_loss(
    out: dict[str, torch.Tensor],
    num_segments: int,
    frames: torch.Tensor,
    depth: torch.Tensor,
    segmentation: torch.Tensor,
    weights: ReconstructionWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    """A decoder's output (:meth:`worldmodels.tokenizer.Tokenizer.decode`) against frames
    (B, T, 3, H, W) in [0, 1], depth (B, T, H, W) metres and segmentation (B, T, H, W) ids.

    L1, edge and depth terms are weighted per pixel by :func:`class_balanced_weights`;
    the segmentation cross-entropy likewise."""
    seg_target = segmentation.long().clamp_max(num_segments - 1)  # (B, T, H, W)
    weight = class_balanced_weights(seg_target)  # (B, T, H, W)
    l1 = ((out["rgb"] - frames).abs() * weight.unsqueeze(2)).mean()
    grad = image_gradient_l1(out["rgb"], frames, weight)
    structure = 1 - ssim(out["rgb"], frames).mean()
    depth_l1 = ((out["inverse_depth"] - depth_to_inverse(depth.float())).abs() * weight).mean()
    seg_ce = (
        F.cross_entropy(out["segmentation"].flatten(0, 1), seg_target.flatten(0, 1), reduction="none")
        * weight.flatten(0, 1)
    ).mean()
    loss = (
        l1
        + weights.gradient * grad
        + weights.ssim * structure
        + weights.depth * depth_l1
        + weights.segmentation * seg_ce
    )
    with torch.no_grad():
        mse = (out["rgb"] - frames).pow(2).mean()
        foreground = (seg_target > 1).unsqueeze(2).expand_as(frames)  # not background (0) or the first geom (floor)
        fg_mse = (out["rgb"] - frames).pow(2)[foreground].mean() if foreground.any() else mse
    metrics = {
        "l1": l1.item(),
        "gradient": grad.item(),
        "ssim": 1 - structure.item(),
        "depth_l1": depth_l1.item(),
        "segmentation_ce": seg_ce.item(),
        "psnr": (10 * torch.log10(1 / mse.clamp_min(1e-10))).item(),
        "psnr_foreground": (10 * torch.log10(1 / fg_mse.clamp_min(1e-10))).item(),
        "sharpness": (gradient_energy(out["rgb"]).mean() / gradient_energy(frames).mean().clamp_min(1e-12)).item(),
    }
    return loss, metrics


def adversarial_loss(
    discriminator: nn.Module,
    fake: torch.Tensor,
    real: torch.Tensor,
    reconstruction: torch.Tensor,
    last_layer: torch.Tensor,
    weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Hinge GAN terms for a decoder and its discriminator, as one loss for one backward.

    fake (N, 3, H, W) drawn by the decoder, real (N, 3, H, W) MuJoCo's, both in [0, 1].
    The generator term -D(fake) reaches the decoder only (the discriminator's weights are
    used detached); the discriminator's hinge terms reach it only (fake detached). The
    generator term is scaled by ``weight`` times the ratio of the ``reconstruction`` loss's
    gradient norm to its own at ``last_layer`` (the decoder's RGB head weight), as VQGAN
    does, so it pulls as hard as the reconstruction whatever their scales; outside autograd
    (validation) that ratio is 1."""
    frozen = {name: p.detach() for name, p in discriminator.named_parameters()}
    generator = -functional_call(discriminator, {**frozen, **dict(discriminator.named_buffers())}, (fake,)).mean()
    ratio = torch.ones((), device=fake.device)
    if torch.is_grad_enabled() and last_layer.requires_grad:
        (g_rec,) = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)
        (g_adv,) = torch.autograd.grad(generator, last_layer, retain_graph=True)
        ratio = (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, 1e4).detach()
    logits_real, logits_fake = discriminator(real), discriminator(fake.detach())  # (N, 1, h, w)
    critic = F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean()
    metrics = {
        "adversarial_generator": generator.item(),
        "adversarial_discriminator": critic.item(),
        "adversarial_weight": weight * ratio.item(),
        "discriminator_accuracy": 0.5 * ((logits_real > 0).float().mean() + (logits_fake < 0).float().mean()).item(),
    }
    return weight * ratio * generator + critic, metrics


def decoder_loss(
    net: Callable,
    tokenizer: Tokenizer,
    predict: PredictModel | None,
    context: int,
    rgb: torch.Tensor,
    depth: torch.Tensor,
    segmentation: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    weights: ReconstructionWeights,
    discriminator: nn.Module | None = None,
    adversarial: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Decode Predict's imagined latents into the real frames they stand for.

    rgb (B, L, H, W, 3) uint8, depth, segmentation (B, L, H, W), obs (B, L, D), actions
    (B, L-1, A). The first ``context`` frames are encoded (the encoder is frozen, so
    Predict's latent space stays as it was trained), the rest imagined open loop from them
    with the clip's actions; the decoder learns to draw, from both, the frames MuJoCo drew
    (an age-conditioned decoder is told each frame's steps since the last real one). With
    no ``predict`` every frame is encoded (``context`` = L). With a ``discriminator``, its
    :func:`adversarial_loss` of weight ``adversarial`` is added. Why: docs/design-notes.md."""
    frames = rgb.permute(0, 1, 4, 2, 3).float() / 255  # (B, L, 3, H, W)
    with torch.no_grad():
        z = tokenizer.encode(frames)  # (B, L, C, h, w)
        if predict is not None:
            z, _ = imagine_clips(predict, z, obs.float(), actions.float(), real=context, context=context)
    steps = torch.arange(z.shape[1], device=z.device)
    age = F.relu(steps - (context - 1)).expand(z.shape[0], -1)  # (B, L): 0 .. 0, 1, 2, ...
    _, out = net(latents=z, age=age)
    loss, metrics = reconstruction_loss(out, tokenizer.config.num_segments, frames, depth, segmentation, weights)
    if discriminator is not None:
        gan, gan_metrics = adversarial_loss(
            discriminator, out["rgb"].flatten(0, 1), frames.flatten(0, 1), loss, tokenizer.rgb_head.weight, adversarial
        )
        loss, metrics = loss + gan, {**metrics, **gan_metrics}
    with torch.no_grad():
        per_frame = psnr(out["rgb"], frames)  # (B, L)
        metrics["psnr_encoded"] = per_frame[:, :context].mean().item()
        if context < per_frame.shape[1]:
            metrics["psnr_imagined"] = per_frame[:, context:].mean().item()
            metrics["psnr_imagined_next"] = per_frame[:, context].mean().item()
    return loss, metrics


def predict_loss(
    net: Callable,
    model: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    valid: torch.Tensor,
    config: PredictStageConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Flow-matching loss for next-frame prediction, noised as sampling will see it.

    latents (B, L, C, h, w) and obs (B, L, D) raw; actions (B, L-1, A); valid (B, L).
    Each window is cut at a random frame c in [1, L-1]. Frames before c are context,
    noised to tau ~ U(0, ``config.context_noise``) except a ``config.clean_context_fraction``
    of them, left clean; frames from c on are targets with tau = 1 with probability
    ``config.pure_noise_fraction``, else tau ~ U(0, 1). Frame c is predicted as at
    sampling time; later frames are extra (diffusion-forcing) targets. The loss is the x0
    error of target frames whose previous frame is valid (see docs/design-notes.md).
    For a shortcut model, a ``config.shortcut_fraction`` of the windows instead train a
    larger step on their last frame (:func:`shortcut_targets`).
    """
    z0, o0 = model.normalize_latents(latents.float()), model.normalize_obs(obs.float())
    b, length = z0.shape[:2]
    device = z0.device
    levels = model.config.shortcut_levels
    n_short = round(b * config.shortcut_fraction) if levels else 0
    n_self = min(round(b * config.self_forcing_fraction), b - n_short)
    cut = torch.randint(1, length, (b, 1), device=device)
    cut[:n_short] = length - 1  # shortcut windows: the last frame is the one target
    z_in, o_in = z0, o0  # what the network is shown, noised below; the targets stay z0, o0
    if n_self:  # self forcing: the last windows' frames 1..k imagined open loop from frame 0
        k = config.self_forcing_frames
        z_in, o_in = z0.clone(), o0.clone()
        rows = slice(b - n_self, b)
        imagined_z, imagined_o = self_forced_context(model, latents[rows], obs[rows], actions[rows], k, config)
        z_in[rows, 1 : k + 1], o_in[rows, 1 : k + 1] = imagined_z, imagined_o
        cut[rows] = k + 1
    is_target = torch.arange(length, device=device)[None] >= cut  # (B, L)
    target_tau = torch.where(
        torch.rand(b, length, device=device) < config.pure_noise_fraction,
        torch.ones(b, length, device=device),
        torch.rand(b, length, device=device),
    )
    step_levels = None
    if n_short:
        # a step of size 2^l / 2^L from a noise level on that step's grid
        short_level = torch.randint(1, levels + 1, (n_short,), device=device)
        step = 2.0 ** (short_level - levels)  # (n,)
        on_grid = torch.ceil(torch.rand(n_short, device=device) / step) * step  # k * step, k >= 1
        target_tau[:n_short, -1] = torch.where(target_tau[:n_short, -1] == 1, 1.0, on_grid.clamp(max=1))
        step_levels = torch.zeros(b, length, dtype=torch.long, device=device)
        step_levels[:n_short, -1] = short_level
    context_tau = torch.rand(b, length, device=device) * config.context_noise
    context_tau = torch.where(torch.rand(b, length, device=device) < config.clean_context_fraction, 0.0, context_tau)
    tau = torch.where(is_target, target_tau, context_tau)
    zt = (1 - tau[..., None, None, None]) * z_in + tau[..., None, None, None] * torch.randn_like(z0)
    ot = (1 - tau[..., None]) * o_in + tau[..., None] * torch.randn_like(o0)
    z_target, o_target = z0, o0
    if n_short:
        rows = slice(0, n_short)
        short_z, short_o = shortcut_targets(
            net, zt[rows], ot[rows], actions[rows].float(), tau[rows], step_levels[rows, -1] - 1, levels
        )
        z_target, o_target = z0.clone(), o0.clone()
        z_target[rows, -1], o_target[rows, -1] = short_z, short_o
    z_hat, o_hat = net(zt, ot, actions.float(), tau, step_levels=step_levels)
    weight = torch.zeros(b, length, device=device)
    weight[:, 1:] = (valid[:, 1:] & valid[:, :-1]).float()
    weight = weight * is_target
    latent_err = (z_hat.float() - z_target).pow(2).flatten(2).mean(-1)  # (B, L)
    obs_err = (o_hat.float() - o_target).pow(2).mean(-1)  # (B, L)
    latent_loss = (latent_err * weight).sum() / weight.sum().clamp_min(1)
    obs_loss = (obs_err * weight).sum() / weight.sum().clamp_min(1)
    base = torch.arange(b, device=device)[:, None] >= n_short  # (B, 1): windows with the plain loss
    first = weight * (torch.arange(length, device=device)[None] == cut) * (tau == 1) * base  # the sampling situation

    def mean_over(err: torch.Tensor, w: torch.Tensor) -> float:
        return ((err * w).sum() / w.sum().clamp_min(1)).item()

    persistence = (z0 - previous_frame(z0)).pow(2).flatten(2).mean(-1)  # (B, L): the last frame repeated
    metrics = {
        "latent_mse": latent_loss.item(),
        "obs_mse": obs_loss.item(),
        "latent_mse_next_from_noise": mean_over(latent_err, first),
        "obs_mse_next_from_noise": mean_over(obs_err, first),
        "latent_mse_next_persistence": mean_over(persistence, first),
    }
    if n_short:
        metrics["latent_mse_shortcut"] = mean_over(
            latent_err, weight * (torch.arange(b, device=device)[:, None] < n_short)
        )
    if n_self:
        after_drift = (
            weight
            * (torch.arange(b, device=device)[:, None] >= b - n_self)
            * (torch.arange(length, device=device)[None] == cut)
        )
        metrics["latent_mse_self_forced"] = mean_over(latent_err, after_drift)
    return latent_loss + config.obs_weight * obs_loss, metrics


@torch.no_grad()
def self_forced_context(
    model: PredictModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    frames: int,
    config: PredictStageConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames 1..``frames`` of windows imagined open loop by ``model`` from their first
    frame with the windows' actions, normalised: latents (B, L, C, h, w), obs (B, L, D)
    raw, actions (B, L-1, A) -> (B, frames, C, h, w), (B, frames, D). (A padded window
    start repeats its first real frame, so it is imagined from that frame.)"""
    from worldmodels.rollout import imagine_clips
    from worldmodels.sampler import SamplingConfig

    was_training = model.training
    model.eval()
    sampling = SamplingConfig(steps=config.self_forcing_sampler_steps)
    context = model.config.band or config.context
    z, o = imagine_clips(
        model,
        latents[:, : frames + 1].float(),
        obs[:, : frames + 1].float(),
        actions[:, :frames].float(),
        real=1,
        context=context,
        sampling=sampling,
    )
    model.train(was_training)
    return model.normalize_latents(z[:, 1:]), model.normalize_obs(o[:, 1:])


@torch.no_grad()
def shortcut_targets(
    net: Callable,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    tau: torch.Tensor,
    half_level: torch.Tensor,
    levels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-consistency targets of a shortcut model (Frans et al. 2024) for the last frame
    of each window: the clean estimate whose one step of size 2d lands where two steps of
    size d (level ``half_level``) land.

    latents (B, L, C, h, w), obs (B, L, D): noised windows, normalised; actions (B, L-1,
    A); tau (B, L) their noise levels, the last frame's a multiple of 2d; half_level (B,)
    int64 in [0, levels), d = 2^half_level / 2^levels. Returns the last frame's x0
    targets, (B, C, h, w) and (B, D)."""
    d = 2.0 ** (half_level.float() - levels)  # (B,)
    z_start, o_start, t_start = latents[:, -1], obs[:, -1], tau[:, -1]
    step_levels = torch.zeros(tau.shape, dtype=torch.long, device=tau.device)
    step_levels[:, -1] = half_level
    z, o, t = z_start, o_start, t_start
    for _ in range(2):  # two Euler steps of size d: x <- x0 + ((t - d) / t) (x - x0)
        latents, obs, tau = latents.clone(), obs.clone(), tau.clone()
        latents[:, -1], obs[:, -1], tau[:, -1] = z, o, t
        z_hat, o_hat = net(latents, obs, actions, tau, step_levels=step_levels)
        ratio = (t - d) / t  # (B,)
        z = z_hat[:, -1] + ratio[:, None, None, None] * (z - z_hat[:, -1])
        o = o_hat[:, -1] + ratio[:, None] * (o - o_hat[:, -1])
        t = t - d
    # one step of 2d with estimate x lands at x + r (x_start - x), r = (t_start - 2d) / t_start
    r = (t_start - 2 * d) / t_start  # (B,), in [0, 1)
    rz, ro = r[:, None, None, None], r[:, None]
    return (z - rz * z_start) / (1 - rz), (o - ro * o_start) / (1 - ro)


def probe_loss(
    net: Callable, model: PoseProbe, rgb: torch.Tensor, obs: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Normalised-observation MSE of a pose probe on real frames: rgb (B, T, H, W, 3)
    uint8, obs (B, T, D); every frame of the clip counts."""
    frames = rgb.flatten(0, 1).permute(0, 3, 1, 2).float() / 255  # (B*T, 3, H, W)
    target = (obs.flatten(0, 1).float() - model.obs_mean) / model.obs_std
    err = (net(frames) - target).pow(2)  # (B*T, D)
    return err.mean(), {"obs_mse": err.mean().item(), "obs_rmse_std": err.mean(-1).sqrt().mean().item()}


def transfer_loss(
    net: Callable,
    model: TransferModel,
    rgb: torch.Tensor,
    depth: torch.Tensor,
    segmentation: torch.Tensor,
    styled_rgb: torch.Tensor,
    style: torch.Tensor,
    config: TransferStageConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Render styled frames from the control maps of canonical ones, each sample with a
    random subset of the modalities (``config.keep_probability`` each, at least one) at
    random weights in [0.5, 1]. rgb, styled_rgb (B, T, H, W, 3) uint8, depth (B, T, H, W)
    metres, segmentation (B, T, H, W), style (B, T, 12); every frame counts. The loss is
    :func:`reconstruction_loss`'s L1 + gradient + SSIM terms (no depth or segmentation), L1
    and gradient weighted per pixel by :func:`class_balanced_weights`."""
    from worldmodels.controls import CONTROLS, control_maps

    frames = rgb.flatten(0, 1).permute(0, 3, 1, 2).float() / 255  # (N, 3, H, W)
    target = styled_rgb.flatten(0, 1).permute(0, 3, 1, 2).float() / 255
    n = frames.shape[0]
    maps = control_maps(
        frames, depth.flatten(0, 1), segmentation.flatten(0, 1), model.config.num_segments, model.config.blur_sigma
    )
    keep = torch.rand(n, len(CONTROLS), device=frames.device) < config.keep_probability
    keep[torch.arange(n), torch.randint(0, len(CONTROLS), (n,))] = True  # at least one modality
    strength = 0.5 + 0.5 * torch.rand(n, len(CONTROLS), device=frames.device)
    size = model.config.resolution
    weights = {m: (keep[:, i] * strength[:, i])[:, None, None].expand(n, size, size) for i, m in enumerate(CONTROLS)}
    out = net(maps, style.flatten(0, 1).float(), weights)
    # class-balanced, as the tokenizer's loss: the thin body is a few % of the pixels
    weight = class_balanced_weights(segmentation.flatten(0, 1).long().clamp_max(model.config.num_segments - 1))
    l1 = ((out - target).abs() * weight[:, None]).mean()
    grad = image_gradient_l1(out, target, weight)
    structure = 1 - ssim(out, target).mean()
    loss = l1 + config.loss.gradient * grad + config.loss.ssim * structure
    with torch.no_grad():
        mse = (out - target).pow(2).mean()
        metrics = {
            "l1": l1.item(),
            "gradient": grad.item(),
            "ssim": 1 - structure.item(),
            "psnr": (10 * torch.log10(1 / mse.clamp_min(1e-10))).item(),
        }
    return loss, metrics


class ImaginedClips(NamedTuple):
    """A bank of clips whose last frames Predict imagined from real ones under the real
    actions (:func:`cosmos_env.training.cached_imagined_clips`), with the real clips' labels."""

    latents: torch.Tensor
    """(N, T, C, h, w) raw."""
    obs: torch.Tensor
    """(N, T, D) raw."""
    actions: torch.Tensor
    """(N, T-1, A)."""
    reward: torch.Tensor
    """(N, T-1): MuJoCo's rewards of the real clip the imagined one stands for."""
    terminated: torch.Tensor
    """(N, T-1) bool, likewise."""
    valid: torch.Tensor
    """(N, T) bool, likewise."""


def reason_loss(
    net: Callable,
    model: ReasonModel,
    latents: torch.Tensor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    reward: torch.Tensor,
    terminated: torch.Tensor,
    valid: torch.Tensor,
    config: ReasonStageConfig,
    imagined: ImaginedClips | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reward regression, termination and plausibility classification on a batch of real
    clips plus as many (``negatives`` x B) wrong ones: corrupted copies of the batch
    (:data:`worldmodels.corrupt.CORRUPTIONS`) and, when given, ``imagined`` clips drawn
    from a bank of Predict's futures, in equal shares.

    latents (B, T, C, h, w), obs (B, T, D) raw; actions (B, T-1, A); reward, terminated
    (B, T-1) MuJoCo labels; valid (B, T). Reward and termination train on real clips
    whose last transition is valid, and with ``config.label_imagined`` on the imagined
    ones too (the real clip's labels: the critic then reads them off imagined frames as
    it will in the env); plausibility on every clip.
    """
    b, device = latents.shape[0], latents.device
    kinds = list(CORRUPTIONS) + (["imagined"] if imagined is not None else [])
    n_neg = max(len(kinds), round(config.negatives * b))
    share = torch.arange(n_neg, device=device) * len(kinds) // n_neg  # kind of each negative
    rows = torch.randint(0, b, (n_neg,), device=device)
    parts_z, parts_o, parts_a = [latents], [obs], [actions]
    labels = [(torch.arange(b, device=device), reward, terminated, valid)]  # rows whose reward and termination train
    for k, kind in enumerate(kinds):
        pick = rows[share == k]
        if kind == "imagined":
            bank = torch.randint(0, imagined.latents.shape[0], (len(pick),))
            z, o, a = (x[bank].to(device) for x in (imagined.latents, imagined.obs, imagined.actions))
            if config.label_imagined:  # these rows of the batch, with the real clips' labels
                at = sum(len(part) for part in parts_z) + torch.arange(len(pick), device=device)
                labels.append((at, *(x[bank].to(device) for x in imagined[3:])))
        else:
            z, o = CORRUPTIONS[kind](latents[pick], obs[pick])
            a = actions[pick]
        parts_z.append(z)
        parts_o.append(o)
        parts_a.append(a)
    out = net(torch.cat(parts_z).float(), torch.cat(parts_o).float(), torch.cat(parts_a).float())
    real = torch.arange(b + n_neg, device=device) < b  # (B + N,)
    at, reward_l, terminated_l, valid_l = (torch.cat(x) for x in zip(*labels))  # (L, ...): L = B (+ imagined)
    weight = valid_l[:, -2].float()  # (L,): clips whose last transition has a label
    n_weight = weight.sum().clamp_min(1)
    target = (reward_l[:, -1].float() - model.reward_mean) / model.reward_std
    reward_loss = ((out["reward_normalized"][at] - target).pow(2) * weight).sum() / n_weight
    term_loss = (
        F.binary_cross_entropy_with_logits(out["terminated"][at], terminated_l[:, -1].float(), reduction="none")
        * weight
    ).sum() / n_weight
    labelled = valid[:, -2].float()  # (B,): the real clips', for the metrics
    n = labelled.sum().clamp_min(1)
    plaus_loss = F.binary_cross_entropy_with_logits(out["plausibility"], real.float())
    with torch.no_grad():
        said_real = out["plausibility"] > 0
        metrics = {
            "reward_loss": reward_loss.item(),
            "terminated_loss": term_loss.item(),
            "plausibility_loss": plaus_loss.item(),
            "reward_mae": ((out["reward"][:b] - reward[:, -1]).abs() * labelled).sum().item() / n.item(),
            "terminated_accuracy": (((out["terminated"][:b] > 0) == terminated[:, -1]).float() * labelled).sum().item()
            / n.item(),
            "plausibility_accuracy_real": said_real[:b].float().mean().item(),
        }
        for k, kind in enumerate(kinds):
            metrics[f"plausibility_accuracy_{kind}"] = (~said_real[b:][share == k]).float().mean().item()
        if len(labels) > 1:  # termination read off the labelled imagined clips
            at, _, terminated_i, valid_i = labels[1]
            right = ((out["terminated"][at] > 0) == terminated_i[:, -1]).float() * valid_i[:, -2]
            metrics["terminated_accuracy_imagined"] = right.sum().item() / max(valid_i[:, -2].sum().item(), 1)
    return reward_loss + term_loss + plaus_loss, metrics
