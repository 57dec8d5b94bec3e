import pytest
import torch

from worldmodels.controls import CONTROLS
from worldmodels.transfer import TRANSFER_SIZES, TransferConfig, TransferModel, mix_weights


def controls(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    return {
        "edge": (torch.rand(n, 1, size, size, generator=g) > 0.9).float(),
        "blur": torch.rand(n, 3, size, size, generator=g),
        "depth": torch.rand(n, 1, size, size, generator=g),
        "seg": torch.nn.functional.one_hot(torch.randint(0, 16, (n, size, size), generator=g), 16)
        .permute(0, 3, 1, 2)
        .float(),
    }


def test_weights_normalise_where_they_sum_above_one():
    spatial = torch.zeros(1, 4, 4)
    spatial[:, :2] = 3.0
    mix = mix_weights({"edge": 1.0, "depth": spatial}, n=1, size=4, device=torch.device("cpu"))
    assert mix["edge"][0, 0, 3, 0] == 1.0 and mix["depth"][0, 0, 3, 0] == 0.0  # sum 1 there: as given
    assert mix["edge"][0, 0, 0, 0] == pytest.approx(0.25) and mix["depth"][0, 0, 0, 0] == pytest.approx(0.75)
    assert mix["seg"].sum() == 0
    with pytest.raises(ValueError, match="unknown control modalities"):
        mix_weights({"canny": 1.0}, 1, 4, torch.device("cpu"))
    with pytest.raises(ValueError, match="negative"):
        mix_weights({"edge": -1.0}, 1, 4, torch.device("cpu"))


def test_output_depends_on_style_and_on_each_weighted_control_only():
    torch.manual_seed(0)
    model = TransferModel(TransferConfig(**TRANSFER_SIZES["tiny"])).eval()
    maps, style = controls(), torch.randn(2, 12)
    weights = {m: 1.0 for m in CONTROLS}
    out = model(maps, style, weights)
    assert out.shape == (2, 3, 64, 64) and 0 <= out.min() and out.max() <= 1
    assert not torch.allclose(model(maps, torch.randn(2, 12), weights), out)
    edges_only = model(maps, style, {"edge": 1.0})
    other = dict(maps, blur=torch.rand(2, 3, 64, 64))
    torch.testing.assert_close(model(other, style, {"edge": 1.0}), edges_only)  # blur weighs 0: ignored
    assert not torch.allclose(model(other, style, weights), out)
    with pytest.raises(ValueError, match="has weight > 0 but no map"):
        model({"edge": maps["edge"]}, style, {"edge": 1.0, "seg": 0.5})


def test_palette_paints_through_the_segmentation_control_only():
    torch.manual_seed(0)
    model = TransferModel(TransferConfig(**TRANSFER_SIZES["tiny"])).eval()
    maps, style = controls(), torch.randn(2, 12)
    before = {w: model(maps, style, {w: 1.0}) for w in ("edge", "seg")}
    with torch.no_grad():
        model.palette.bias.add_(1.0)  # every segment's colour changes
    torch.testing.assert_close(model(maps, style, {"edge": 1.0}), before["edge"])  # no segmentation: no palette
    assert not torch.allclose(model(maps, style, {"seg": 1.0}), before["seg"])
    plain = TransferModel(TransferConfig(**TRANSFER_SIZES["tiny"], palette=False))
    assert plain.palette is None and plain(maps, style, {"seg": 1.0}).shape == (2, 3, 64, 64)
