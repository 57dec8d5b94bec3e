import numpy as np
import pytest

from cosmos_env.ranking import kendall, pearson, rank_agreement, ranks, spearman


def test_correlations_on_hand_computed_cases():
    x, y = [1.0, 2.0, 3.0], [1.0, 3.0, 2.0]  # one swapped pair
    assert spearman(x, y) == pytest.approx(0.5) and pearson(x, y) == pytest.approx(0.5)
    assert kendall(x, y) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant of 3 pairs
    tied = [1.0, 1.0, 2.0]  # tau-b: 2 / sqrt(2 * 3); ranks 1.5, 1.5, 3
    assert kendall(tied, x) == pytest.approx(2 / np.sqrt(6)) and spearman(tied, x) == pytest.approx(1.5 / np.sqrt(3))
    assert ranks([3.0, 1.0, 3.0]).tolist() == [2.5, 1.0, 2.5]
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_rank_agreement_on_known_returns():
    real = np.array([[10.0, 12.0], [20.0, 22.0], [30.0, 32.0], [40.0, 42.0]])  # (policies, seeds)
    same_order = rank_agreement(real * 0.5 + 1, real, bootstrap=200)
    assert same_order["spearman"]["value"] == pytest.approx(1.0) and same_order["regret"]["value"] == 0.0
    assert same_order["pearson"]["ci95_low"] == pytest.approx(1.0)
    reversed_order = rank_agreement(-real, real, bootstrap=200)
    assert reversed_order["kendall"]["value"] == pytest.approx(-1.0)
    assert reversed_order["regret"]["value"] == pytest.approx(30.0)  # picks the worst: 41 - 11


def test_rank_agreement_interval_covers_the_value_and_shapes_are_checked():
    rng = np.random.default_rng(1)
    real = np.arange(6)[:, None] * 10 + rng.normal(scale=8, size=(6, 10))
    imagined = real + rng.normal(scale=15, size=(6, 10))
    out = rank_agreement(imagined, real)
    for name in ("spearman", "kendall", "pearson"):
        assert out[name]["ci95_low"] <= out[name]["value"] <= out[name]["ci95_high"]
    with pytest.raises(ValueError, match="policies, seeds"):
        rank_agreement(real[:, :3], real)
    with pytest.raises(ValueError, match="at least 3 policies"):
        rank_agreement(real[:2], real[:2])


def test_agreement_gain_is_paired_over_seeds():
    from cosmos_env.ranking import agreement_gain

    rng = np.random.default_rng(0)
    real = np.arange(5)[:, None] * 10.0 + rng.normal(0, 1, (5, 8))  # 5 policies, 8 seeds
    good = real + rng.normal(0, 0.5, (5, 8))  # ranks as MuJoCo does
    bad = good[::-1].copy()  # ranks backwards
    gain = agreement_gain(good, bad, real)
    assert gain["spearman"]["value"] == pytest.approx(2.0)  # 1 - (-1)
    assert gain["spearman"]["ci95_low"] > 0 and gain["pearson"]["ci95_low"] > 0
    same = agreement_gain(good, good, real)
    assert all(same[c]["value"] == 0 and same[c]["ci95_low"] == same[c]["ci95_high"] == 0 for c in same)
    with pytest.raises(ValueError, match="at least 3 policies"):
        agreement_gain(good[:2], bad[:2], real[:2])
