import torch

from worldmodels.controls import CONTROLS, canny, control_maps, gaussian_blur


def test_canny_draws_a_squares_outline_one_pixel_thin():
    rgb = torch.zeros(1, 3, 32, 32)
    rgb[:, :, 8:24, 8:24] = 1.0
    edges = canny(rgb)[0, 0]
    assert edges.sum() > 40 and edges[12:20, 12:20].sum() == 0 and edges[:4].sum() == 0  # outline only
    assert edges[16, 4:12].sum() <= 2  # thin across the left side
    assert canny(torch.full((1, 3, 32, 32), 0.5)).sum() == 0  # nothing in a flat image


def test_control_maps_shapes_and_ranges():
    rgb, depth = torch.rand(2, 3, 16, 16), torch.rand(2, 16, 16) * 10
    seg = torch.randint(0, 40, (2, 16, 16))
    maps = control_maps(rgb, depth, seg)
    assert tuple(maps) == CONTROLS
    assert maps["edge"].shape == (2, 1, 16, 16) and maps["blur"].shape == (2, 3, 16, 16)
    assert maps["depth"].shape == (2, 1, 16, 16) and maps["depth"].max() <= 1
    assert maps["seg"].shape == (2, 16, 16, 16) and (maps["seg"].sum(1) == 1).all()
    torch.testing.assert_close(gaussian_blur(torch.ones(1, 1, 8, 8), 1.0), torch.ones(1, 1, 8, 8))
