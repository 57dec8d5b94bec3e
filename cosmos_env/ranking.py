"""How well imagined returns rank policies against MuJoCo's: rank and linear correlations
with paired bootstrap intervals over seeds, and the regret of trusting imagination."""

from __future__ import annotations

import numpy as np


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-d array, ties sharing their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = x.argsort(kind="stable")
    out = np.empty(len(x))
    out[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tie = x == value
        out[tie] = out[tie].mean()
    return out


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two 1-d arrays; NaN when either is constant."""
    x, y = np.asarray(x, np.float64) - np.mean(x), np.asarray(y, np.float64) - np.mean(y)
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson of the tie-averaged ranks)."""
    return pearson(ranks(x), ranks(y))


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties in either array corrected for); NaN when either is constant."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    i, j = np.triu_indices(len(x), 1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denominator = np.sqrt((dx != 0).sum() * (dy != 0).sum())
    return float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")


CORRELATIONS = {"spearman": spearman, "kendall": kendall, "pearson": pearson}


def rank_agreement(
    imagined: np.ndarray, real: np.ndarray, bootstrap: int = 2000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Agreement of per-policy mean returns between imagination and MuJoCo.

    imagined, real (P, S): the return of each of P policies from each of S start seeds, the
    same seeds in both worlds. Each correlation of the P means comes with a ~95% interval
    from resampling the seeds (the same resample in both worlds); ``regret`` is the best
    MuJoCo mean minus the MuJoCo mean of the policy imagination ranks first (0: it picks
    the best). Raises ValueError for mismatched shapes or fewer than 3 policies.
    """
    imagined, real = np.asarray(imagined, np.float64), np.asarray(real, np.float64)
    if imagined.shape != real.shape or imagined.ndim != 2:
        raise ValueError(f"imagined and real must both be (policies, seeds), got {imagined.shape} and {real.shape}")
    if imagined.shape[0] < 3:
        raise ValueError(f"ranking needs at least 3 policies, got {imagined.shape[0]}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, imagined.shape[1], (bootstrap, imagined.shape[1]))  # (R, S) seed resamples
    out: dict[str, dict[str, float]] = {}
    for name, fn in CORRELATIONS.items():
        value = fn(imagined.mean(1), real.mean(1))
        draws = np.array([fn(imagined[:, p].mean(1), real[:, p].mean(1)) for p in picks])
        draws = draws[np.isfinite(draws)]
        low, high = np.quantile(draws, [0.025, 0.975]) if len(draws) else (np.nan, np.nan)
        out[name] = {"value": value, "ci95_low": float(low), "ci95_high": float(high)}
    real_means = real.mean(1)
    out["regret"] = {"value": float(real_means.max() - real_means[int(imagined.mean(1).argmax())])}
    return out


def agreement_gain(
    imagined: np.ndarray, baseline: np.ndarray, real: np.ndarray, bootstrap: int = 2000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """How much better ``imagined`` ranks policies than ``baseline`` (another world model's
    imagined returns of the same policies from the same seeds) against ``real``.

    imagined, baseline, real (P, S). Per correlation: the difference of the two models'
    values, with a ~95% interval from resampling the seeds (the same resample in all three
    worlds: a paired interval; one that holds 0 is a tie). Raises ValueError for
    mismatched shapes or fewer than 3 policies."""
    arrays = [np.asarray(a, np.float64) for a in (imagined, baseline, real)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 2:
        raise ValueError(f"imagined, baseline and real must all be (policies, seeds), got {[a.shape for a in arrays]}")
    if arrays[0].shape[0] < 3:
        raise ValueError(f"ranking needs at least 3 policies, got {arrays[0].shape[0]}")
    imagined, baseline, real = arrays
    picks = np.random.default_rng(seed).integers(0, real.shape[1], (bootstrap, real.shape[1]))  # (R, S)
    out: dict[str, dict[str, float]] = {}
    for name, fn in CORRELATIONS.items():

        def gain(cols: np.ndarray | slice, fn=fn) -> float:
            r = real[:, cols].mean(1)
            return fn(imagined[:, cols].mean(1), r) - fn(baseline[:, cols].mean(1), r)

        draws = np.array([gain(p) for p in picks])
        draws = draws[np.isfinite(draws)]
        low, high = np.quantile(draws, [0.025, 0.975]) if len(draws) else (np.nan, np.nan)
        out[name] = {"value": gain(slice(None)), "ci95_low": float(low), "ci95_high": float(high)}
    return out
