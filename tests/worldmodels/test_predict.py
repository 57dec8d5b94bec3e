import pytest
import torch

from worldmodels.losses import predict_loss, shortcut_targets
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel, patchify, preconditioning, unpatchify
from worldmodels.sampler import (
    NewestFrame,
    SamplingConfig,
    StepSchedule,
    prime_cache,
    sample_next,
    sample_next_cached,
    step_level,
    step_schedule,
)
from worldmodels.stages import PredictStageConfig

# the settings these tests were written against (lighter noise than the stage's defaults)
LOSS = PredictStageConfig(tokenizer="-", context_noise=0.1, pure_noise_fraction=0.5, clean_context_fraction=0.0)


def model(seed=0, randomize=True, **overrides):
    torch.manual_seed(seed)
    m = PredictModel(
        PredictConfig(obs_dim=5, action_dim=2, latent_channels=4, **{**PREDICT_SIZES["tiny"], **overrides})
    )
    if randomize:  # adaLN-Zero starts every block as the identity; give conditioning an effect
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.1)
    return m.eval()


def window(b=2, t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, t, 4, 8, 8, generator=g),
        torch.randn(b, t, 5, generator=g),
        torch.randn(b, t - 1, 2, generator=g),
        torch.rand(b, t, generator=g),
    )


def test_shapes():
    z, o, a, tau = window()
    z_hat, o_hat = model()(z, o, a, tau)
    assert z_hat.shape == z.shape and o_hat.shape == o.shape


def test_causal_and_action_conditioned():
    m = model()
    z, o, a, tau = window()
    base = m(z, o, a, tau)
    a2 = a.clone()
    a2[:, 1] += 1.0  # the action between frames 1 and 2
    moved = m(z, o, a2, tau)
    for x, y in zip(base, moved):
        torch.testing.assert_close(x[:, :2], y[:, :2])  # frames before it: unchanged
        assert (x[:, 2:] - y[:, 2:]).abs().max() > 1e-3  # frames after: changed
    z3 = z.clone()
    z3[:, 3] += 1.0
    torch.testing.assert_close(m(z3, o, a, tau)[0][:, :3], base[0][:, :3])


def test_clean_input_passes_through():
    c_in, c_skip, c_out = preconditioning(torch.tensor([0.0, 1.0]))
    assert c_skip.tolist() == [1.0, 0.0] and c_out.tolist() == [0.0, 1.0]
    z, o, a, _ = window()
    z_hat, o_hat = model()(z, o, a, torch.zeros(2, 4))
    torch.testing.assert_close(z_hat, z)
    torch.testing.assert_close(o_hat, o)


def test_untrained_model_predicts_persistence():
    # zero-initialised outputs + the previous-frame parametrisation: one-step sampling of
    # an untrained model repeats the last context frame exactly
    m = model(randomize=False)
    z, o, a, _ = window(t=4)
    z, o = z[:, :3], o[:, :3]  # context of 3 frames; a (B, 3, A) ends with the action taken now
    z_next, o_next = sample_next(m, z, o, a, SamplingConfig(steps=1))
    torch.testing.assert_close(z_next, z[:, -1])
    torch.testing.assert_close(o_next, o[:, -1])


def test_task_vector_is_required_when_configured():
    m = model(task_dim=3)
    z, o, a, tau = window()
    assert m(z, o, a, tau, task=torch.randn(2, 3))[0].shape == z.shape
    with pytest.raises(ValueError, match="needs a task vector"):
        m(z, o, a, tau)


def test_window_longer_than_max_frames_is_an_error():
    z, o, a, tau = window(t=9)
    with pytest.raises(ValueError, match="exceeds max_frames=8"):
        model()(z, o, a, tau)


def test_sampler_one_step_returns_the_clean_estimate_and_is_seeded():
    m = model()
    z, o, _, _ = window(t=3)
    a = torch.randn(2, 3, 2)  # the actions into frames 1, 2 and into the frame to imagine
    first = sample_next(m, z, o, a, SamplingConfig(steps=1), generator=torch.Generator().manual_seed(1))
    again = sample_next(m, z, o, a, SamplingConfig(steps=1), generator=torch.Generator().manual_seed(1))
    four = sample_next(m, z, o, a, SamplingConfig(steps=4), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(first[0], again[0])
    assert first[0].shape == (2, 4, 8, 8) and first[1].shape == (2, 5)
    assert not torch.allclose(first[0], four[0])
    with pytest.raises(ValueError, match="steps must be >= 1"):
        SamplingConfig(steps=0)


def test_sampler_keeps_imagined_values_within_the_data_range():
    m = model()
    m.obs_out.bias.data.fill_(100.0)  # a network that runs away
    m.obs_mean.fill_(2.0)
    m.obs_std.fill_(3.0)
    z, o, _, _ = window(t=3)
    a = torch.randn(2, 3, 2)
    _, obs = sample_next(m, z, o, a, SamplingConfig(limit=5.0))
    assert obs.max().item() == pytest.approx(2.0 + 5 * 3.0)
    _, unlimited = sample_next(m, z, o, a, SamplingConfig(limit=None))
    assert unlimited.max().item() > 100


def test_a_few_steps_fit_a_batch_and_padding_is_masked():
    m = model(randomize=False).train()
    z, o, a, _ = window(b=4, t=4)
    valid = torch.ones(4, 4, dtype=torch.bool)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        torch.manual_seed(0)  # the same noise every step: a fixed objective
        loss, metrics = predict_loss(m, m, z, o, a, valid, LOSS)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
    # with only frame 0 valid nothing is predicted (no valid past): zero loss
    none_valid = torch.zeros(4, 4, dtype=torch.bool)
    none_valid[:, 0] = True
    assert predict_loss(m, m, z, o, a, none_valid, LOSS)[0].item() == 0.0


def test_clean_context_fraction_leaves_the_context_unnoised():
    m = model().train()
    z, o, a, _ = window(b=64, t=4)
    seen = {}

    def net(zt, ot, actions, tau, step_levels=None):
        seen["tau"] = tau
        return m(zt, ot, actions, tau, step_levels=step_levels)

    valid = torch.ones(64, 4, dtype=torch.bool)
    predict_loss(net, m, z, o, a, valid, PredictStageConfig(tokenizer="-", clean_context_fraction=1.0))
    assert (seen["tau"][:, 0] == 0).all()  # frame 0 is always context
    predict_loss(net, m, z, o, a, valid, PredictStageConfig(tokenizer="-", clean_context_fraction=0.0))
    assert (seen["tau"][:, 0] > 0).all() and (seen["tau"][:, 0] <= 0.3).all()


def v2_model(seed=0, **overrides):
    return model(seed, **{**PREDICT_SIZES["tiny-v2"], **overrides})


def test_patchify_round_trip():
    z = torch.randn(2, 3, 4, 8, 8)
    tokens = patchify(z, 2)
    assert tokens.shape == (2, 3, 4, 4, 16)
    torch.testing.assert_close(unpatchify(tokens, 2), z)


def test_band_limits_what_a_frame_sees():
    m = v2_model()  # 2 blocks, band 2: a frame sees at most 4 frames back through both blocks
    z, o, a, tau = window(t=6)
    base = m(z, o, a, tau)
    z0 = z.clone()
    z0[:, 0] += 1.0
    moved = m(z0, o, a, tau)
    torch.testing.assert_close(moved[0][:, 5], base[0][:, 5])
    assert (moved[0][:, 4] - base[0][:, 4]).abs().max() > 1e-4


def test_rolling_cache_equals_the_banded_window():
    # teacher forcing through a cache that keeps `band` frames computes what one pass over
    # the whole window computes: what training sees is what sampling sees
    m = v2_model()
    z, o, a, tau = window(t=6)
    full_z, full_o = m(z, o, a, tau)
    band = m.config.band
    _, _, cache = m.forward_cached(z[:, :band], o[:, :band], a[:, : band - 1], tau[:, :band])
    for t in range(band, 6):
        step_z, step_o, new = m.forward_cached(
            z[:, t : t + 1], o[:, t : t + 1], a[:, t - 1 : t], tau[:, t : t + 1], cache
        )
        torch.testing.assert_close(step_z[:, 0], full_z[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step_o[:, 0], full_o[:, t], atol=1e-5, rtol=1e-5)
        cache = cache.then(new, band)
    assert cache.frames == band


def test_scratch_room_computes_what_concatenation_does():
    # a cache made with room writes each window's keys after its own, in place: the same
    # outputs as copying the cache, its own frames untouched, and reused by a second window
    m = v2_model()
    z, o, a, tau = window(t=6)
    band = m.config.band
    _, _, cache = m.forward_cached(z[:, :band], o[:, :band], a[:, : band - 1], tau[:, :band])
    _, _, entry = m.forward_cached(
        z[:, band : band + 1], o[:, band : band + 1], a[:, band - 1 : band], tau[:, :1], cache
    )
    plain, roomy = cache.then(entry, band), cache.then(entry, band, room=2)
    assert roomy.scratch is not None and roomy.scratch[0].shape[2] == band + 2 and plain.scratch is None
    torch.testing.assert_close(roomy.keys, plain.keys)
    kept = roomy.keys.clone()
    for t in (1, 2, 1):  # windows of one and two frames, one after the other in the same room
        args = z[:, 5 - t + 1 : 6], o[:, 5 - t + 1 : 6], a[:, 5 - t : 5], tau[:, 5 - t + 1 : 6]
        expected, got = m.forward_cached(*args, plain), m.forward_cached(*args, roomy)
        for x, y in zip(expected[:2], got[:2]):
            torch.testing.assert_close(x, y)
    torch.testing.assert_close(roomy.keys, kept)


def test_cached_sampling_equals_the_window_sampler():
    # the cache holds the frames before the newest, which the first sampler pass enters
    m = v2_model()
    z, o, a, _ = window(b=3, t=3)
    a = a[:, :2]
    action = torch.randn(3, 2)
    cache = prime_cache(m, z[:, :-1], o[:, :-1], a[:, :-1])
    for steps in (1, 2, 3, 4):  # 3: a non-uniform schedule (1/2, 1/4, 1/4)
        window_draw = sample_next(
            m,
            z,
            o,
            torch.cat([a, action[:, None]], 1),
            SamplingConfig(steps=steps),
            generator=torch.Generator().manual_seed(1),
        )
        newest = NewestFrame(z[:, -1], o[:, -1], a[:, -1], torch.zeros(3))
        *cached_draw, extended = sample_next_cached(
            m, cache, newest, action, SamplingConfig(steps=steps), generator=torch.Generator().manual_seed(1)
        )
        for x, y in zip(window_draw, cached_draw):
            torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)
        primed = prime_cache(m, z, o, a)  # the newest frame entered by the first pass, as priming enters it
        torch.testing.assert_close(extended.keys, primed.keys, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(extended.values, primed.values, atol=1e-5, rtol=1e-5)


def test_shortcut_step_levels():
    config = v2_model().config  # 2 levels: 4 base steps, 2, 1
    assert [step_level(config, s) for s in (4, 2, 1)] == [0, 1, 2]
    assert step_level(model().config, 3) is None  # no shortcut: any step count
    for bad in (3, 8):
        with pytest.raises(ValueError, match="samples in 1, 2, 4"):
            step_level(config, bad)


def test_step_schedules_use_only_trained_step_sizes():
    config = v2_model().config  # 2 levels: steps of 1/4 (level 0), 1/2 (1) and 1 (2)
    assert step_schedule(config, 4) == StepSchedule((1.0, 0.75, 0.5, 0.25, 0.0), (0, 0, 0, 0))
    assert step_schedule(config, 1) == StepSchedule((1.0, 0.0), (2,))
    # 3 steps: two of 1/2, the last (nearest the data) halved
    assert step_schedule(config, 3) == StepSchedule((1.0, 0.5, 0.25, 0.0), (1, 0, 0))
    for bad in (0, 5):
        with pytest.raises(ValueError, match="steps"):
            step_schedule(config, bad)
    plain = step_schedule(model().config, 3)  # no shortcut: uniform, no levels
    assert plain.levels is None and len(plain.taus) == 4


def test_cache_only_frames_skip_their_outputs_and_change_nothing_else():
    m = v2_model()
    band = m.config.band
    z, o, a, tau = window(t=band + 2)
    _, _, cache = m.forward_cached(z[:, :band], o[:, :band], a[:, : band - 1], tau[:, :band])
    args = z[:, band:], o[:, band:], a[:, band - 1 :], tau[:, band:], cache  # a window of 2 frames
    z_all, o_all, entry_all = m.forward_cached(*args, cache_frames=1)
    z_one, o_one, entry_one = m.forward_cached(*args, cache_frames=1, outputs_from=1)
    assert z_one.shape[1] == o_one.shape[1] == 1
    torch.testing.assert_close(z_one, z_all[:, 1:])
    torch.testing.assert_close(o_one, o_all[:, 1:])
    torch.testing.assert_close(entry_one.keys, entry_all.keys)
    torch.testing.assert_close(entry_one.last_latent, entry_all.last_latent)
    with pytest.raises(ValueError, match="outputs_from must be in"):
        m.forward_cached(*args, outputs_from=2)


def test_a_cache_needs_a_rotary_banded_model():
    z, o, a, tau = window()
    with pytest.raises(ValueError, match="needs time_embedding='rotary' and a band"):
        model().forward_cached(z, o, a, tau)
    with pytest.raises(ValueError, match="patch 3 must be >= 1 and divide latent_size 8"):
        PredictConfig(obs_dim=5, action_dim=2, patch=3)


def test_shortcut_targets_of_an_exact_model_are_the_clean_frame():
    # a model that always knows x0 moves along the straight path: two steps of d land where
    # one step of 2d from the same point lands, so the target is x0 itself
    z0, o0 = torch.randn(3, 4, 4, 8, 8), torch.randn(3, 4, 5)
    exact = lambda z, o, a, tau, step_levels=None: (z0, o0)  # noqa: E731
    tau = torch.zeros(3, 4)
    tau[:, -1] = torch.tensor([1.0, 0.5, 1.0])  # multiples of each row's 2d
    noisy_z = z0 + tau[..., None, None, None] * torch.randn_like(z0)
    noisy_o = o0 + tau[..., None] * torch.randn_like(o0)
    half = torch.tensor([1, 0, 0])  # d = 1/2, 1/4, 1/4 of a 4-step base (2 levels)
    z_target, o_target = shortcut_targets(exact, noisy_z, noisy_o, torch.zeros(3, 3, 2), tau, half, levels=2)
    torch.testing.assert_close(z_target, z0[:, -1])
    torch.testing.assert_close(o_target, o0[:, -1])


def test_shortcut_model_trains_every_level():
    m = v2_model().train()
    z, o, a, _ = window(b=8, t=4)
    config = PredictStageConfig(tokenizer="-", shortcut_fraction=0.5)
    loss, metrics = predict_loss(m, m, z, o, a, torch.ones(8, 4, dtype=torch.bool), config)
    loss.backward()
    assert loss.isfinite() and "latent_mse_shortcut" in metrics
    assert m.step_embedding.weight.grad[1:].abs().sum() > 0  # the larger steps' levels were trained


def test_self_forcing_shows_imagined_context_and_keeps_real_targets():
    m = v2_model().train()
    z, o, a, _ = window(b=4, t=6)
    seen = {}

    def net(zt, ot, actions, tau, step_levels=None):
        seen["zt"], seen["tau"] = zt, tau
        return m(zt, ot, actions, tau, step_levels=step_levels)

    config = PredictStageConfig(
        tokenizer="-", self_forcing_fraction=0.5, self_forcing_frames=2, clean_context_fraction=1.0
    )
    loss, metrics = predict_loss(net, m, z, o, a, torch.ones(4, 6, dtype=torch.bool), config)
    loss.backward()
    assert loss.isfinite() and "latent_mse_self_forced" in metrics
    assert m.training  # imagining the context does not leave the model in eval mode
    real = m.normalize_latents(z)
    shown = seen["zt"]
    # the last two windows see imagined frames 1-2 (clean context), the target from frame 3 on
    assert (seen["tau"][2:, :3] == 0).all() and (seen["tau"][2:, 3] > 0).all()
    torch.testing.assert_close(shown[2:, 0], real[2:, 0])
    assert not torch.allclose(shown[2:, 1:3], real[2:, 1:3])
    with pytest.raises(ValueError, match="self_forcing_frames must be in"):
        PredictStageConfig(tokenizer="-", context=2, horizon=1, self_forcing_fraction=0.5, self_forcing_frames=2)
