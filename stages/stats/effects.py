"""Effect sizes with confidence intervals: how much faster, not only whether.

Latency samples from one run are not independent (a slow stretch slows its neighbours), so the replication
unit is the run: with several runs per service the bootstrap resamples runs, then requests within each drawn
run (a two-stage cluster bootstrap: with only two or three runs, drawing runs alone has too few distinct
resamples and its intervals come out too narrow); with one run it resamples requests only, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

MAX_PAIRS = 4_000_000  # pairwise differences for Hodges-Lehmann; larger samples are subsampled (seeded)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def ratio_ci(baseline_runs: Sequence[np.ndarray], optimized_runs: Sequence[np.ndarray],
             statistic: Callable[[np.ndarray], float], resamples: int = 2000, level: float = 0.95,
             seed: int = 0) -> tuple[Interval, str]:
    """statistic(optimized) / statistic(baseline) with a percentile bootstrap CI; and the resampling unit."""
    rng = np.random.default_rng(seed)
    estimate = statistic(np.concatenate(optimized_runs)) / statistic(np.concatenate(baseline_runs))
    by_runs = min(len(baseline_runs), len(optimized_runs)) >= 2
    ratios = np.empty(resamples)
    for k in range(resamples):
        optimized = statistic(_resample(optimized_runs, rng, by_runs))
        ratios[k] = optimized / statistic(_resample(baseline_runs, rng, by_runs))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high)), "runs" if by_runs else "requests"


def _resample(runs: Sequence[np.ndarray], rng: np.random.Generator, by_runs: bool) -> np.ndarray:
    """Runs drawn with replacement (when ``by_runs``), then requests drawn with replacement within each."""
    chosen = [runs[i] for i in rng.integers(0, len(runs), len(runs))] if by_runs else list(runs)
    return np.concatenate([rng.choice(run, len(run)) for run in chosen])


def _pairs(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both samples, subsampled (seeded) so that their pairwise differences fit in memory."""
    rng = np.random.default_rng(seed)
    while len(x) * len(y) > MAX_PAIRS:
        x = rng.choice(x, max(len(x) // 2, 1), replace=False) if len(x) >= len(y) else x
        y = rng.choice(y, max(len(y) // 2, 1), replace=False) if len(y) > len(x) else y
    return x, y


def hodges_lehmann(baseline: np.ndarray, optimized: np.ndarray, level: float = 0.95, seed: int = 0) -> Interval:
    """Median of all pairwise differences optimized - baseline, with the distribution-free (Moses) CI.

    The CI takes the order statistics of the pairwise differences at the ranks the Mann-Whitney U distribution
    gives (normal approximation), as in Hollander & Wolfe.
    """
    x, y = _pairs(np.asarray(baseline, float), np.asarray(optimized, float), seed)
    differences = np.sort(np.subtract.outer(y, x).ravel())
    n1, n2 = len(x), len(y)
    z = stats.norm.ppf(0.5 + level / 2)
    k = int(np.floor(n1 * n2 / 2 - z * np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)))
    k = min(max(k, 0), len(differences) - 1)
    return Interval(float(np.median(differences)), float(differences[k]), float(differences[-k - 1]))


def cliffs_delta(baseline: np.ndarray, optimized: np.ndarray) -> float:
    """P(optimized > baseline) - P(optimized < baseline), from the Mann-Whitney U statistic (ties count half)."""
    result = stats.mannwhitneyu(optimized, baseline, alternative="two-sided")
    return float(2 * result.statistic / (len(optimized) * len(baseline)) - 1)
