import pytest
import torch

from worldmodels.corrupt import CORRUPTIONS, freeze, shuffle, teleport
from worldmodels.losses import ImaginedClips, reason_loss
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.reason import REASON_SIZES, ReasonConfig, ReasonModel
from worldmodels.rollout import imagine_clips
from worldmodels.sampler import SamplingConfig
from worldmodels.stages import ReasonStageConfig

SETTINGS = ReasonStageConfig(tokenizer="-", predict=None)  # the tokenizer path is not read by the loss


def clips(b=6, t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, t, 4, 8, 8, generator=g),
        torch.randn(b, t, 5, generator=g),
        torch.randn(b, t - 1, 2, generator=g),
    )


def bank_of(b=4, seed=1, terminated=False):
    """An imagined-clip bank of random clips, every label valid."""
    z, o, a = clips(b=b, seed=seed)
    reward = torch.randn(b, 3, generator=torch.Generator().manual_seed(seed))
    return ImaginedClips(z, o, a, reward, torch.full((b, 3), terminated), torch.ones(b, 4, dtype=torch.bool))


def reason(**overrides):
    torch.manual_seed(0)
    return ReasonModel(
        ReasonConfig(obs_dim=5, action_dim=2, latent_channels=4, **{**REASON_SIZES["tiny"], **overrides})
    )


def test_heads_and_ranges():
    z, o, a = clips()
    m = reason().eval()
    out = m(z, o, a)
    assert {k: v.shape for k, v in out.items()} == {
        k: (6,) for k in ("reward", "reward_normalized", "terminated", "plausibility")
    }
    judged = m.judge(z, o, a)
    assert ((judged["plausibility"] >= 0) & (judged["plausibility"] <= 1)).all()
    m.reward_mean.fill_(3.0)
    m.reward_std.fill_(2.0)
    torch.testing.assert_close(m(z, o, a)["reward"], out["reward_normalized"] * 2 + 3)


def test_clip_length_and_task_vector_are_checked():
    z, o, a = clips(t=3)
    with pytest.raises(ValueError, match="clips of 4 frames"):
        reason()(z, o, a)
    z, o, a = clips()
    with pytest.raises(ValueError, match="task vector"):
        reason(task_dim=3)(z, o, a)
    assert reason(task_dim=3)(z, o, a, task=torch.randn(6, 3))["reward"].shape == (6,)


def test_the_critic_sees_frame_order_and_actions():
    z, o, a = clips()
    m = reason().eval()
    base = m(z, o, a)["plausibility"]
    assert (m(z.flip(1), o.flip(1), a)["plausibility"] - base).abs().max() > 1e-4
    assert (m(z, o, a + 1)["plausibility"] - base).abs().max() > 1e-4


def test_corruptions_change_every_clip_and_keep_shapes():
    z, o, _ = clips(b=8)
    for name, corrupt in CORRUPTIONS.items():
        cz, co = corrupt(z, o, torch.Generator().manual_seed(1))
        assert cz.shape == z.shape and co.shape == o.shape, name
        changed = (cz != z).flatten(1).any(1) & (co != o).flatten(1).any(1)
        assert changed.all(), name
        assert (cz[:, 0] == z[:, 0]).all() or name == "shuffle", name  # the clip starts as it did


def test_freeze_holds_a_frame_and_teleport_splices_another_clip():
    z, o, _ = clips(b=5)
    fz, fo = freeze(z, o, torch.Generator().manual_seed(0))
    for i in range(5):
        k = next(t for t in range(1, 4) if (fz[i, t] == fz[i, t - 1]).all())
        assert all((fz[i, s] == z[i, k - 1]).all() for s in range(k, 4)) and (fo[i, k:] == o[i, k - 1]).all()
    tz, _ = teleport(z, o, torch.Generator().manual_seed(0))
    for i in range(5):
        k = next(t for t in range(1, 4) if not (tz[i, t] == z[i, t]).all())
        others = [j for j in range(5) if j != i and (tz[i, k:] == z[j, k:]).all()]
        assert len(others) == 1 and (tz[i, :k] == z[i, :k]).all()
    sz, so = shuffle(z, o, torch.Generator().manual_seed(0))
    assert torch.equal(sz.sort(1).values, z.sort(1).values)  # the same frames, reordered


def test_imagine_keeps_real_frames_and_follows_the_sampler():
    torch.manual_seed(0)
    predict = PredictModel(PredictConfig(obs_dim=5, action_dim=2, latent_channels=4, **PREDICT_SIZES["tiny"])).eval()
    z, o, a = clips(b=3, t=5)
    iz, io = imagine_clips(predict, z, o, a, real=2, context=3)
    assert iz.shape == z.shape and io.shape == o.shape
    torch.testing.assert_close(iz[:, :2], z[:, :2])
    # an untrained Predict repeats the last real frame (its persistence start)
    for t in range(2, 5):
        torch.testing.assert_close(iz[:, t], z[:, 1])
    with pytest.raises(ValueError, match="real"):
        imagine_clips(predict, z, o, a, real=0, context=3)
    # context noise reaches imagined frames only: the first imagined frame is unchanged
    for p in predict.parameters():
        torch.nn.init.normal_(p, std=0.1)
    clean = imagine_clips(predict, z, o, a, 2, 3, SamplingConfig(context_noise=0.0), torch.Generator().manual_seed(0))
    noisy = imagine_clips(predict, z, o, a, 2, 3, SamplingConfig(context_noise=0.5), torch.Generator().manual_seed(0))
    torch.testing.assert_close(noisy[0][:, :3], clean[0][:, :3])
    assert not torch.allclose(noisy[0][:, 3:], clean[0][:, 3:])


def test_reason_loss_trains_all_three_heads():
    torch.manual_seed(0)
    m = reason()
    z, o, a = clips(b=8)
    reward, terminated = torch.randn(8, 3), torch.rand(8, 3) > 0.5
    valid = torch.ones(8, 4, dtype=torch.bool)
    valid[0, :3] = False  # a padded clip: its last transition has no label
    bank = bank_of()
    loss, metrics = reason_loss(m, m, z, o, a, reward, terminated, valid, SETTINGS, imagined=bank)
    loss.backward()
    assert loss.isfinite() and all(p.grad is not None for p in m.heads.parameters())
    assert {
        "reward_mae",
        "terminated_accuracy",
        "plausibility_accuracy_real",
        "plausibility_accuracy_imagined",
        "plausibility_accuracy_teleport",
    } <= set(metrics)
    # fitting one batch for a few steps drives the loss down
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for step in range(40):
        torch.manual_seed(step)
        loss, _ = reason_loss(m, m, z, o, a, reward, terminated, valid, SETTINGS, imagined=bank)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.6 * first


def test_reason_loss_labels_imagined_clips_only_when_asked():
    """With label_imagined the termination head learns the imagined clips' (real) labels too."""
    m = reason()
    z, o, a = clips(b=8)
    reward, terminated, valid = (
        torch.randn(8, 3),
        torch.zeros(8, 3, dtype=torch.bool),
        torch.ones(8, 4, dtype=torch.bool),
    )
    bank = bank_of(b=6, terminated=True)  # real clips never end, imagined ones always do
    _, plain = reason_loss(m, m, z, o, a, reward, terminated, valid, SETTINGS, imagined=bank)
    assert "terminated_accuracy_imagined" not in plain
    settings = ReasonStageConfig(tokenizer="-", predict="-", negatives=4.0, label_imagined=True)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(60):
        torch.manual_seed(step)
        loss, metrics = reason_loss(m, m, z, o, a, reward, terminated, valid, settings, imagined=bank)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert metrics["terminated_accuracy_imagined"] == 1.0 and metrics["terminated_accuracy"] == 1.0
    with pytest.raises(ValueError, match="label_imagined needs a predict"):
        ReasonStageConfig(tokenizer="-", predict=None, label_imagined=True)


def test_patch_four_judges_whole_clips_with_fewer_tokens():
    """small-v2's 4x4 patches: 4 tokens a frame of 8x8 latents, and each frame still counts."""
    assert REASON_SIZES["small-v2"]["patch"] == 4
    z, o, a = clips()
    m = reason(patch=4).eval()
    seen = []
    m.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[1]))
    before = m(z, o, a)["plausibility"]
    assert seen == [1 + 4 * 4 + 4 + 3]
    z2 = z.clone()
    z2[:, 0, :, :4, :4] += 3.0  # one frame's corner patch changes the verdict
    assert not torch.allclose(m(z2, o, a)["plausibility"], before)
    with pytest.raises(ValueError, match="multiple of patch 3"):
        reason(patch=3)
