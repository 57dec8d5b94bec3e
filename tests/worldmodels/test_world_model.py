import dataclasses

import pytest
import torch

from worldmodels import rollout
from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.reason import REASON_SIZES, ReasonConfig, ReasonModel
from worldmodels.sampler import SamplingConfig
from worldmodels.tokenizer import TOKENIZER_SIZES, Tokenizer
from worldmodels.world_model import WorldModel


def tiny_world_model(context=3, critic=False):
    torch.manual_seed(0)
    tokenizer = Tokenizer(TOKENIZER_SIZES["tiny"])
    predict = PredictModel(PredictConfig(obs_dim=5, action_dim=2, latent_channels=4, **PREDICT_SIZES["tiny"]))
    for p in predict.parameters():
        torch.nn.init.normal_(p, std=0.1)
    reason = None
    if critic:
        reason = ReasonModel(ReasonConfig(obs_dim=5, action_dim=2, latent_channels=4, clip=3, **REASON_SIZES["tiny"]))
    return WorldModel(tokenizer, predict, context, reason)


def test_start_repeats_one_frame_like_padded_training_windows():
    wm = tiny_world_model()
    rgb = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    h = wm.start(rgb, torch.randn(2, 5))
    assert h.latents.shape == (2, 3, 4, 8, 8) and h.obs.shape == (2, 3, 5) and h.actions.shape == (2, 2, 2)
    assert torch.equal(h.latents[:, 0], h.latents[:, 2]) and not h.actions.any() and not h.imagined.any()


def test_start_from_a_real_clip_keeps_the_last_context_frames():
    wm = tiny_world_model(context=3)
    rgb = torch.randint(0, 256, (2, 5, 64, 64, 3), dtype=torch.uint8)
    obs, actions = torch.randn(2, 5, 5), torch.randn(2, 4, 2)
    h = wm.start(rgb, obs, actions)
    clip = wm.tokenizer.encode(rgb.permute(0, 1, 4, 2, 3).float() / 255)  # the clip encoded causally as a whole
    torch.testing.assert_close(h.latents, clip[:, -3:])
    assert torch.equal(h.obs, obs[:, -3:]) and torch.equal(h.actions, actions[:, -2:])
    short = wm.start(rgb[:, :2], obs[:, :2], actions[:, :1])  # shorter than the context: padded in front
    assert torch.equal(short.obs[:, :2], obs[:, :1].expand(-1, 2, -1)) and torch.equal(
        short.actions[:, 1], actions[:, 0]
    )
    assert not short.actions[:, 0].any()
    with pytest.raises(ValueError, match=r"actions \(B, T-1, 2\)"):
        wm.start(rgb, obs)


def test_context_noise_reaches_imagined_frames_only():
    wm = tiny_world_model()
    predict = PredictModel(dataclasses.replace(wm.predict.config, rollout_context_noise=0.2))
    predict.load_state_dict(wm.predict.state_dict())
    wm.predict = predict.eval()
    rgb = torch.randint(0, 256, (1, 64, 64, 3), dtype=torch.uint8)
    history, action = wm.start(rgb, torch.randn(1, 5)), torch.randn(1, 2)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    # from a real start nothing is noised: the same draw as with no context noise at all
    torch.testing.assert_close(
        wm.step(history, action, generator=gen()).latent,
        wm.step(history, action, SamplingConfig(context_noise=0.0), generator=gen()).latent,
    )
    for _ in range(2):
        history = wm.step(history, action, generator=gen()).history
    assert history.imagined.tolist() == [[False, True, True]]
    levels = {}
    real_sample_next = rollout.sample_next

    def spy(*args, **kwargs):
        levels["default"] = args[5]  # sample_next(model, latents, obs, actions, sampling, context_levels)
        return real_sample_next(*args, **kwargs)

    rollout.sample_next = spy
    try:
        wm.step(history, action)
        torch.testing.assert_close(levels["default"], torch.tensor([[0.0, 0.2, 0.2]]))  # the model's default
        wm.step(history.repeat(2), action.repeat(2, 1), SamplingConfig(context_noise=0.5))
        torch.testing.assert_close(levels["default"], torch.tensor([[0.0, 0.5, 0.5]] * 2))
    finally:
        rollout.sample_next = real_sample_next


def test_rollout_and_decode_shapes_and_action_effect():
    wm = tiny_world_model()
    rgb = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    obs, actions = torch.randn(2, 5), torch.randn(2, 6, 2)
    z, o = wm.rollout(rgb, obs, actions, generator=torch.Generator().manual_seed(0))
    assert z.shape == (2, 7, 4, 8, 8) and o.shape == (2, 7, 5)
    torch.testing.assert_close(o[:, 0], obs)
    other = actions.clone()
    other[:, 3:] += 1.0
    z2, _ = wm.rollout(rgb, obs, other, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z[:, :4], z2[:, :4])  # same until the actions differ
    assert not torch.allclose(z[:, 4:], z2[:, 4:])
    frames = wm.decode(z)
    assert frames["rgb"].shape == (2, 7, 64, 64, 3) and frames["rgb"].dtype == torch.uint8
    assert frames["depth"].shape == (2, 7, 64, 64) and frames["segmentation"].dtype == torch.uint8


def test_decode_latest_draws_the_newest_frame_as_a_whole_clip_decodes():
    wm = tiny_world_model()
    torch.nn.init.normal_(wm.tokenizer.decoder_time.conv.weight, std=0.1)  # zero at init: make it look back
    history = wm.start(torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8), torch.randn(2, 5))
    for _ in range(3):
        history = wm.step(history, torch.randn(2, 2)).history
    latest = wm.decode_latest(history)
    whole = wm.decode(history.latents)
    assert latest["rgb"].shape == (2, 64, 64, 3)
    for key in ("rgb", "depth", "segmentation"):
        torch.testing.assert_close(latest[key], whole[key][:, -1])
    alone = wm.decode(history.latents[:, -1:])["rgb"][:, 0]
    assert not torch.equal(alone, latest["rgb"])  # decoding one latent alone would lose the look back


def test_history_counts_each_frames_steps_since_the_real_start_and_the_decoder_is_told():
    wm = tiny_world_model()
    wm.tokenizer = wm.tokenizer.with_age_buckets(7)
    for film in wm.tokenizer.age_film:
        torch.nn.init.normal_(film.weight, std=0.5)
    history = wm.start(torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8), torch.randn(2, 5))
    for _ in range(5):
        history = wm.step(history, torch.randn(2, 2)).history
    assert history.age.tolist() == [[3, 4, 5]] * 2  # older than the context: the count goes on
    latest = wm.decode_latest(history)["rgb"]
    torch.testing.assert_close(latest, wm.decode(history.latents, history.age)["rgb"][:, -1])
    assert not torch.equal(latest, wm.decode(history.latents)["rgb"][:, -1])  # as if real: drawn otherwise


def test_critic_judges_each_step_and_best_of_keeps_the_most_plausible():
    wm = tiny_world_model(critic=True)
    rgb = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    history = wm.start(rgb, torch.randn(2, 5))
    action = torch.randn(2, 2)
    one = wm.step(history, action, generator=torch.Generator().manual_seed(0))
    assert one.reward.shape == one.terminated.shape == one.plausibility.shape == (2,)
    assert ((one.terminated >= 0) & (one.terminated <= 1)).all()
    # best-of-4: the batch of 8 candidates is what the same generator gives a batch of 8
    best = wm.step(history, action, SamplingConfig(best_of=4), generator=torch.Generator().manual_seed(0))
    candidates = wm.step(history.repeat(4), action.repeat_interleave(4, 0), generator=torch.Generator().manual_seed(0))
    scores = candidates.plausibility.view(2, 4)
    torch.testing.assert_close(best.plausibility, scores.max(1).values)
    pick = scores.argmax(1) + torch.tensor([0, 4])
    torch.testing.assert_close(best.latent, candidates.latent[pick])
    torch.testing.assert_close(best.history.latents, candidates.history.latents[pick])
    assert best.history.latents.shape == history.latents.shape
    with pytest.raises(ValueError, match="needs a Reason critic"):
        tiny_world_model().step(history, action, SamplingConfig(best_of=2))


def test_save_and_load(tmp_path):
    wm = tiny_world_model(critic=True)
    wm.save_pretrained(tmp_path / "wm")
    loaded = WorldModel.from_pretrained(tmp_path / "wm")
    assert loaded.context == 3 and loaded.reason is not None
    rgb = torch.randint(0, 256, (1, 64, 64, 3), dtype=torch.uint8)
    a = wm.rollout(rgb, torch.zeros(1, 5), torch.ones(1, 2, 2), generator=torch.Generator().manual_seed(0))
    b = loaded.rollout(rgb, torch.zeros(1, 5), torch.ones(1, 2, 2), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)


def test_mismatched_parts_are_refused():
    tokenizer = Tokenizer(TOKENIZER_SIZES["tiny"])
    predict = PredictModel(PredictConfig(obs_dim=5, action_dim=2, latent_channels=8, **PREDICT_SIZES["tiny"]))
    with pytest.raises(ValueError, match="predict expects 8 latent channels, the tokenizer makes 4"):
        WorldModel(tokenizer, predict, 3)


def v2_world_model(critic=True, context_noise=0.0):
    from cosmos_env.testing import tiny_world_model as library_model

    wm = library_model("hopper", context=3, critic=critic, predict_size="tiny-v2")
    if context_noise:
        wm.predict = PredictModel(dataclasses.replace(wm.predict.config, rollout_context_noise=context_noise)).eval()
        wm.predict.load_state_dict(library_model("hopper", context=3, predict_size="tiny-v2").predict.state_dict())
    return wm


@pytest.mark.parametrize("context_noise", [0.0, 0.2])
def test_v2_steps_from_a_cache_that_rolls_with_the_history(context_noise):
    wm = v2_world_model(context_noise=context_noise)
    rgb = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    history = wm.start(rgb, torch.zeros(2, 11))
    assert history.cache.frames == 2  # the frames before the newest (the next step enters it)
    for _ in range(4):
        step = wm.step(history, torch.randn(2, 3), generator=torch.Generator().manual_seed(0))
        assert step.history.cache.frames == 3 and torch.isfinite(step.latent).all()
        assert not torch.equal(step.history.cache.keys, history.cache.keys)
        history = step.history
    # best-of-3: the kept candidate's cache is what a plain step of that candidate makes
    action = torch.randn(2, 3)
    best = wm.step(history, action, SamplingConfig(best_of=3), generator=torch.Generator().manual_seed(1))
    each = wm.step(history.repeat(3), action.repeat_interleave(3, 0), generator=torch.Generator().manual_seed(1))
    pick = each.plausibility.view(2, 3).argmax(1) + torch.tensor([0, 3])
    torch.testing.assert_close(best.history.cache.keys, each.history.cache.keys[:, pick])
    torch.testing.assert_close(best.latent, each.latent[pick])


def test_v2_history_rows_restart_without_touching_the_others():
    wm = v2_world_model()
    rgb = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    history = wm.step(wm.start(rgb, torch.zeros(3, 11)), torch.randn(3, 3)).history
    before = history.cache.keys.clone()
    fresh = wm.start(rgb[:1], torch.zeros(1, 11))
    history = history.assign(torch.tensor([1]), fresh)
    # the restarted row's cache is one frame short (the next step enters its newest): padded
    assert (history.cache.frames, fresh.cache.frames) == (3, 2)
    assert history.cache.present.tolist() == [[True] * 3, [False, True, True], [True] * 3]
    torch.testing.assert_close(history.cache.keys[:, 1, 1:], fresh.cache.keys[:, 0])
    torch.testing.assert_close(history.cache.keys[:, [0, 2]], before[:, [0, 2]])
    assert not history.age[1].any()
    # and it steps as it would alone: the absent frame is not attended to
    action = torch.randn(3, 3)
    together = wm.step(history, action, generator=[torch.Generator().manual_seed(i) for i in range(3)])
    alone = wm.step(fresh, action[1:2], generator=[torch.Generator().manual_seed(1)])
    torch.testing.assert_close(together.latent[1:2], alone.latent, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together.obs[1:2], alone.obs, atol=1e-5, rtol=1e-5)
    assert together.history.cache.present is None  # the padding has slid out of the band
