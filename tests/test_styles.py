import numpy as np
import pytest

from cosmos_env.reference import MujocoReference
from cosmos_env.styles import PRESETS, STYLE_FIELDS, as_style, random_style


def test_a_style_changes_the_look_and_nothing_else():
    with MujocoReference("hopper") as ref:
        obs, _ = ref.reset(seed=0)
        canonical = ref.render()
        for name in PRESETS:
            ref.set_style(name)
            styled = ref.render()
            np.testing.assert_array_equal(styled.segmentation, canonical.segmentation)
            np.testing.assert_allclose(styled.depth, canonical.depth)
            if name != "canonical":
                assert np.abs(styled.rgb.astype(int) - canonical.rgb).mean() > 5
        np.testing.assert_array_equal(ref.observation(), obs)
        ref.set_style("canonical")  # every style is applied from the canonical look
        np.testing.assert_array_equal(ref.render().rgb, canonical.rgb)
        assert ref.set_style("random", np.random.default_rng(3)).shape == (len(STYLE_FIELDS),)


def test_each_renderer_keeps_its_own_sky_when_renders_alternate():
    """A skybox upload lands in the current GL context: after a canonical render(), a new style
    for render_styled() must tint the styled renderer's sky, not the canonical one's (collect
    alternates the two every step and changes style at each episode)."""
    from cosmos_env.styles import preset

    sky = lambda rgb: rgb[:4].reshape(-1, 3).mean(0)  # noqa: E731 (the top rows: sky only)
    with MujocoReference("hopper") as ref:
        ref.reset(seed=0)
        canonical = sky(ref.render().rgb)
        forest = sky(ref.render_styled(preset("forest")))
        looks = []
        for name in ("snow", "forest", "canonical"):
            np.testing.assert_array_equal(sky(ref.render().rgb), canonical)
            looks.append(sky(ref.render_styled(preset(name))))
        snow, forest_again, canonical_styled = looks
        assert np.abs(snow - forest).mean() > 10 and np.abs(canonical_styled - forest).mean() > 10
        np.testing.assert_allclose(forest_again, forest)
        np.testing.assert_allclose(canonical_styled, canonical, atol=1)


def test_random_styles_are_seeded_and_held_out_ranges_differ():
    a, b = (random_style(np.random.default_rng(7)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    train = np.stack([random_style(np.random.default_rng(i)) for i in range(200)])
    held = np.stack([random_style(np.random.default_rng(i), "held_out") for i in range(200)])
    colours = slice(0, 9)
    inside = (held[:, colours] >= train[:, colours].min(0)) & (held[:, colours] <= train[:, colours].max(0))
    assert (~inside).any(1).all()  # every held-out look has a colour no train look has


def test_bad_styles_are_named():
    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        as_style("sepia")
    with pytest.raises(ValueError, match="needs a random generator"):
        as_style("random")
    with pytest.raises(ValueError, match="12 finite numbers"):
        as_style([1.0, 2.0])


def test_a_dataset_collected_with_styles_holds_each_frame_in_its_episodes_style(tmp_path):
    from cosmos_env.collect import collect
    from cosmos_env.data import DatasetError, EpisodeDataset, WindowDataset

    collect("hopper", steps=30, out=tmp_path / "styled", workers=1, progress=False, styles="random")
    data = EpisodeDataset(tmp_path / "styled")
    episode = data.episode(0, ("rgb", "styled_rgb", "style", "segmentation"))
    assert episode["styled_rgb"].shape == episode["rgb"].shape and episode["style"].shape == (len(episode["rgb"]), 12)
    assert (episode["style"] == episode["style"][0]).all()  # one look per episode
    assert np.abs(episode["styled_rgb"].astype(int) - episode["rgb"]).mean() > 3
    with MujocoReference("hopper") as ref:  # the styled frame is MuJoCo's render of that state in that style
        ref.reset(seed=int(data.shard(0)["episode_seeds"][0]))
        again = ref.render_styled(episode["style"][0].astype(np.float64))  # the stored style is float32
        assert np.abs(again.astype(int) - episode["styled_rgb"][0]).mean() < 0.5
    assert WindowDataset(data, context=2, fields=("styled_rgb", "style"))[0]["styled_rgb"].shape == (3, 64, 64, 3)
    collect("hopper", steps=20, out=tmp_path / "plain", workers=1, progress=False)
    with pytest.raises(DatasetError, match="collect with styles=random"):
        EpisodeDataset(tmp_path / "plain").episode(0, ("styled_rgb",))
