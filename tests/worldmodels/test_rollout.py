import pytest
import torch

from worldmodels.predict import PREDICT_SIZES, PredictConfig, PredictModel
from worldmodels.reason import REASON_SIZES, ReasonConfig, ReasonModel
from worldmodels.rollout import History, imagine_clips, imagine_step, rollout
from worldmodels.sampler import SamplingConfig


def tiny_predict(rollout_context_noise=0.0):
    torch.manual_seed(0)
    config = PredictConfig(
        obs_dim=5, action_dim=2, latent_channels=4, rollout_context_noise=rollout_context_noise, **PREDICT_SIZES["tiny"]
    )
    predict = PredictModel(config).eval()
    for p in predict.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return predict


def clip(b=2, t=5):
    g = torch.Generator().manual_seed(3)
    return (
        torch.randn(b, t, 4, 8, 8, generator=g),
        torch.randn(b, t, 5, generator=g),
        torch.randn(b, t - 1, 2, generator=g),
    )


def test_rollout_is_imagine_step_repeated():
    predict = tiny_predict()
    z, o, a = clip()
    history = History.from_clip(z[:, :2], o[:, :2], a[:, :1], context=3)
    latents, obs, last = rollout(predict, history, a[:, 1:], generator=torch.Generator().manual_seed(0))
    gen, h = torch.Generator().manual_seed(0), history
    for t in range(a.shape[1] - 1):
        step = imagine_step(predict, h, a[:, 1 + t], generator=gen)
        torch.testing.assert_close(latents[:, t + 1], step.latent)
        torch.testing.assert_close(obs[:, t + 1], step.obs)
        h = step.history
    torch.testing.assert_close(last.latents, h.latents)
    assert latents.shape == (2, 4, 4, 8, 8) and torch.equal(latents[:, 0], z[:, 1])
    assert last.age.tolist() == [[1, 2, 3]] * 2  # steps since the last real frame


def test_imagine_clips_is_a_rollout_from_the_real_prefix():
    predict = tiny_predict()
    z, o, a = clip()
    iz, io = imagine_clips(predict, z, o, a, real=2, context=3, generator=torch.Generator().manual_seed(0))
    history = History.from_clip(z[:, :2], o[:, :2], a[:, :1], context=3)
    rz, ro, _ = rollout(predict, history, a[:, 1:], generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(iz, torch.cat([z[:, :2], rz[:, 1:]], 1))
    torch.testing.assert_close(io, torch.cat([o[:, :2], ro[:, 1:]], 1))


def test_sampling_config_is_passed_whole():
    predict = tiny_predict(rollout_context_noise=0.3)
    z, o, a = clip()
    history = History.from_clip(z[:, :2], o[:, :2], a[:, :1], context=3)
    for _ in range(2):
        history = imagine_step(predict, history, a[:, 0]).history
    assert SamplingConfig().noise_for(predict.config) == 0.3  # None: the model's default
    assert SamplingConfig(context_noise=0.0).noise_for(predict.config) == 0.0

    def draw(sampling):
        return imagine_step(predict, history, a[:, 1], sampling, torch.Generator().manual_seed(0)).latent

    torch.testing.assert_close(draw(SamplingConfig()), draw(SamplingConfig(context_noise=0.3)))
    assert not torch.allclose(draw(SamplingConfig()), draw(SamplingConfig(context_noise=0.0)))
    assert not torch.allclose(draw(SamplingConfig()), draw(SamplingConfig(steps=3)))


def test_best_of_keeps_the_most_plausible_candidate():
    predict = tiny_predict()
    reason = ReasonModel(ReasonConfig(obs_dim=5, action_dim=2, latent_channels=4, clip=3, **REASON_SIZES["tiny"]))
    z, o, a = clip()
    history = History.from_clip(z[:, :3], o[:, :3], a[:, :2], context=3)
    best = imagine_step(predict, history, a[:, 2], SamplingConfig(best_of=3), torch.Generator().manual_seed(0), reason)
    many = imagine_step(
        predict,
        history.repeat(3),
        a[:, 2].repeat_interleave(3, 0),
        generator=torch.Generator().manual_seed(0),
        reason=reason,
    )
    torch.testing.assert_close(best.plausibility, many.plausibility.view(2, 3).max(1).values)
    with pytest.raises(ValueError, match="needs a Reason critic"):
        imagine_step(predict, history, a[:, 2], SamplingConfig(best_of=2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"best_of": 0}, "best_of must be >= 1"),
        ({"context_noise": 1.0}, "context_noise"),
        ({"limit": 0.0}, "limit"),
    ],
)
def test_sampling_config_names_a_bad_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplingConfig(**kwargs)


def test_the_models_default_sampler_steps_are_used_unless_given():
    import dataclasses

    from cosmos_env.testing import tiny_world_model
    from worldmodels.sampler import SamplingConfig, sample_next

    model = tiny_world_model("hopper", predict_size="tiny-v2").predict
    c = model.config
    args = (torch.randn(2, 4, c.latent_channels, c.latent_size, c.latent_size), torch.randn(2, 4, c.obs_dim))
    actions = torch.rand(2, 4, model.config.action_dim) * 2 - 1
    draw = lambda m, s: sample_next(m, *args, actions, s, generator=torch.Generator().manual_seed(0))  # noqa: E731
    four = draw(model, SamplingConfig(steps=4))
    model.config = dataclasses.replace(model.config, rollout_sampler_steps=4)
    for a, b in zip(draw(model, SamplingConfig()), four):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(draw(model, SamplingConfig(steps=1))[0], four[0])
