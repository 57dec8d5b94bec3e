import pytest
import torch

from worldmodels.losses import tokenizer_loss
from worldmodels.stages import ReconstructionWeights
from worldmodels.tokenizer import (
    FSQ,
    TOKENIZER_SIZES,
    Tokenizer,
    TokenizerConfig,
    age_bucket,
    depth_to_inverse,
    inverse_to_depth,
)


def frames(b=2, t=3, seed=0):
    return torch.rand(b, t, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_ranges():
    model = Tokenizer(TOKENIZER_SIZES["tiny"])
    z, out = model(frames())
    assert z.shape == (2, 3, 4, 8, 8)
    assert out["rgb"].shape == (2, 3, 3, 64, 64) and 0 <= out["rgb"].min() and out["rgb"].max() <= 1
    assert out["inverse_depth"].shape == (2, 3, 64, 64)
    assert out["segmentation"].shape == (2, 3, 16, 64, 64)


def test_latents_never_see_later_frames():
    model = Tokenizer(TOKENIZER_SIZES["tiny"])
    for p in model.parameters():  # the time mix starts at zero; make it matter
        torch.nn.init.normal_(p, std=0.1)
    x = frames(t=5)
    changed = x.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])
    z, z_changed = model.encode(x), model.encode(changed)
    torch.testing.assert_close(z[:, :3], z_changed[:, :3])
    assert not torch.allclose(z[:, 3:], z_changed[:, 3:])
    rgb, rgb_changed = model.decode(z)["rgb"], model.decode(z_changed)["rgb"]
    torch.testing.assert_close(rgb[:, :3], rgb_changed[:, :3])
    assert model.temporal_receptive_field == 2
    # frame 4's latent depends on frames 3 and 4 only
    earlier = x.clone()
    earlier[:, :3] = 0
    torch.testing.assert_close(model.encode(earlier)[:, 4], z[:, 4])


def test_fsq_codes_are_discrete_with_straight_through_gradient():
    levels = (8, 5, 5, 4)
    model = Tokenizer(TokenizerConfig(channels=(8, 16, 16), latent_channels=4, fsq_levels=levels))
    x = frames().requires_grad_(True)
    z = model.encode(x)
    for c, n in enumerate(levels):
        values = torch.unique(z[:, :, c])
        grid = torch.linspace(-1, 1, n)
        assert all(torch.isclose(v, grid, atol=1e-5).any() for v in values)
    codes = model.quantiser.codes(z)
    assert codes.shape == (2, 3, 8, 8) and codes.min() >= 0 and codes.max() < 8 * 5 * 5 * 4
    z.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_fsq_codes_enumerate_every_level_combination():
    fsq = FSQ((3, 4))
    grid = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 3), torch.linspace(-1, 1, 4), indexing="ij"), -1)
    q = grid.reshape(1, 1, 12, 2).permute(0, 1, 3, 2)[..., None]  # (1, 1, C=2, 12, 1)
    assert sorted(fsq.codes(q).flatten().tolist()) == list(range(12))


def test_fsq_levels_must_match_channels():
    with pytest.raises(ValueError, match="fsq_levels has 3 entries but latent_channels is 4"):
        TokenizerConfig(latent_channels=4, fsq_levels=(8, 8, 8))


def test_depth_encoding_round_trip():
    depth = torch.tensor([1.5, 3.0, 40.0])
    torch.testing.assert_close(inverse_to_depth(depth_to_inverse(depth)), depth)


def test_a_few_steps_fit_a_batch():
    torch.manual_seed(0)
    model = Tokenizer(TOKENIZER_SIZES["tiny"])
    smooth = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4), size=64, mode="bilinear")  # low-frequency images
    rgb = (smooth.view(2, 2, 3, 64, 64).permute(0, 1, 3, 4, 2) * 255).to(torch.uint8)
    depth, seg = torch.full((2, 2, 64, 64), 2.0), torch.randint(0, 4, (2, 2, 64, 64))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss, metrics = tokenizer_loss(model, 16, rgb, depth, seg, ReconstructionWeights())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert {"psnr", "ssim", "depth_l1", "segmentation_ce"} <= set(metrics)


def test_class_balanced_weights_lift_rare_classes():
    from worldmodels.losses import class_balanced_weights

    seg = torch.zeros(1, 1, 10, 10, dtype=torch.long)
    seg[..., :1, :4] = 2  # 4 robot pixels among 96 floor pixels
    w = class_balanced_weights(seg)
    assert w.mean().item() == pytest.approx(1.0)
    ratio = (w[seg == 2][0] / w[seg == 0][0]).item()
    assert ratio == pytest.approx((96 / 4) ** 0.5)


def test_age_buckets_double():
    assert age_bucket(torch.tensor([0, 1, 2, 3, 4, 7, 8, 31, 32, 1000]), 7).tolist() == [0, 1, 2, 2, 3, 3, 4, 5, 6, 6]


def test_an_age_conditioned_decoder_starts_as_the_one_it_extends():
    torch.manual_seed(0)
    tok = Tokenizer(TOKENIZER_SIZES["tiny"]).eval()
    aged = tok.with_age_buckets(7)
    assert aged.config.age_buckets == 7 and tok.config.age_buckets == 0
    z = torch.randn(2, 5, 4, 8, 8)
    age = torch.tensor([[0, 1, 2, 3, 40], [0, 0, 0, 1, 2]])
    torch.testing.assert_close(aged.decode(z, age)["rgb"], tok.decode(z)["rgb"])  # zero conditioning: a no-op
    for film in aged.age_film:
        torch.nn.init.normal_(film.weight, std=0.5)
    rgb = aged.decode(z, age)["rgb"]
    real = aged.decode(z)["rgb"]  # no age: every latent real (age 0)
    torch.testing.assert_close(real, aged.decode(z, torch.zeros(2, 5, dtype=torch.long))["rgb"])
    torch.testing.assert_close(rgb[1, :3], real[1, :3])  # age 0 frames decode as real ones
    assert not torch.allclose(rgb[0, 1:], real[0, 1:])  # older latents are drawn differently
    plain = aged.without_age()
    assert plain.config.age_buckets == 0 and plain.age_film is None and tok.without_age() is tok
    torch.testing.assert_close(plain.decode(z, age)["rgb"], tok.decode(z)["rgb"])  # the decoder it extended
    with pytest.raises(ValueError, match=r"age must be \(B, T\)"):
        aged.decode(z, age[:, :3])
    with pytest.raises(ValueError, match="already has 7 age buckets"):
        aged.with_age_buckets(5)
    aged.freeze_all_but_age()
    assert {n.split(".")[0] for n, p in aged.named_parameters() if p.requires_grad} == {"age_film"}


def test_decoding_the_last_frames_only_draws_what_the_whole_clip_draws():
    torch.manual_seed(0)
    tok = Tokenizer(TOKENIZER_SIZES["tiny"]).with_age_buckets(4).eval()
    for film in tok.age_film:
        torch.nn.init.normal_(film.weight, std=0.5)
    torch.nn.init.normal_(tok.decoder_time.conv.weight, std=0.1)  # the time mix starts at zero: make it look back
    z, age = torch.randn(2, 4, 4, 8, 8), torch.tensor([[0, 1, 2, 3], [0, 0, 1, 2]])
    whole = tok.decode(z, age)
    for kept in (1, 2):
        last = tok.decode(z, age, last=kept, heads=("rgb",))
        assert set(last) == {"rgb"} and last["rgb"].shape == (2, kept, 3, 64, 64)
        torch.testing.assert_close(last["rgb"], whole["rgb"][:, -kept:])
    alone = tok.decode(z[:, -1:], age[:, -1:])  # without the latent before it, the last frame is drawn otherwise
    assert (alone["rgb"][:, 0] - whole["rgb"][:, -1]).abs().max() > 1e-3


def test_a_new_narrow_decoder_keeps_the_encoder(tmp_path):
    from worldmodels.checkpoint import from_pretrained, save_pretrained

    torch.manual_seed(0)
    tok = Tokenizer(TOKENIZER_SIZES["tiny"]).eval()
    narrow = tok.with_decoder((4, 8, 16)).eval()
    x = frames()
    torch.testing.assert_close(narrow.encode(x), tok.encode(x))  # the same latents
    assert narrow.decode(narrow.encode(x))["rgb"].shape == (2, 3, 3, 64, 64)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in tok.parameters())
    save_pretrained(narrow, tmp_path / "narrow")
    loaded = from_pretrained(tmp_path / "narrow", expected_class="Tokenizer")
    assert loaded.config.decoder_channels == (4, 8, 16)
    with pytest.raises(ValueError, match="one width per encoder stage"):
        tok.with_decoder((4, 8))
