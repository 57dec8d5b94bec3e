import math

import pytest
import torch

from worldmodels.metrics import paired_gain, psnr


def test_psnr_of_a_known_error():
    x = torch.zeros(2, 3, 4, 4)
    assert torch.allclose(psnr(x + 0.1, x), torch.full((2,), 20.0))


def test_paired_gain_mean_and_interval():
    gain, half = paired_gain(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3))
    assert gain == pytest.approx(2.0)
    assert half == pytest.approx(1.96 / math.sqrt(3))  # std of 1, 2, 3 is 1


def test_paired_gain_cancels_the_spread_between_cases():
    spread = torch.linspace(10, 40, 32)  # some starts are much harder than others
    gain, half = paired_gain(spread + 0.5 + 0.01 * torch.randn(32, generator=torch.Generator().manual_seed(0)), spread)
    assert gain == pytest.approx(0.5, abs=0.01) and half < 0.01  # unpaired, the spread would swamp it


def test_paired_gain_names_bad_shapes():
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        paired_gain(torch.zeros(3), torch.zeros(2))
