"""Run-level comparisons of two arms, paired by block: the run is the unit of repetition.

Requests inside one run are autocorrelated (a slow stretch slows its neighbours) and runs differ from each other
(the machine's speed drifts), so treating requests as independent makes p-values like 1e-100 out of noise. Each
block (repeat) runs both arms under the same seeded schedule, in a shuffled order; a statistic is computed per run
and compared within the block: for ratios, ``log(candidate / reference)``; for rates, the difference. The blocks'
values get a Student t interval and test (Kalibera & Jones, "Rigorous benchmarking in reasonable time": the
between-run level of variation is the one that matters). Its error rates are measured, not assumed:
:mod:`stages.calibration.synthetic` replays synthetic runs shaped like real ones through this code.

Verdicts, for a CI of the ratio candidate / reference, in this order:

- equivalent: the whole CI lies inside the equivalence band (``1 +- equivalence`` for ratios, ``+- band`` for
  differences): whatever the difference is, it is smaller than what was declared to matter (an open-loop run's
  throughput differs by 0.2 % with a CI of +-0.1 %: real, and of no consequence);
- faster / slower (higher / lower, fewer / more): the Holm-adjusted p-value is below ``alpha`` and the whole CI
  lies on one side of no change;
- inconclusive: anything else; a CI that straddles both is not evidence either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Direction = Literal["lower_is_better", "higher_is_better"]
# What a change is called, by kind of statistic: (better, worse).
CHANGE_WORDS = {"latency": ("faster", "slower"), "throughput": ("higher", "lower"), "errors": ("fewer", "more"),
                "cost": ("cheaper", "costlier")}
CHANGES = ("faster", "slower", "cheaper", "costlier")  # a primary verdict that calls a change
MIN_BLOCKS = 2


@dataclass(frozen=True)
class PairedInterval:
    """A paired comparison over blocks: estimate and CI (of the ratio, or of the difference) and the t test's
    two-sided p-value against no change."""

    estimate: float
    low: float
    high: float
    p_value: float
    blocks: int


def t_interval(values: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Mean, CI low, CI high and the p-value of a one-sample t test against 0."""
    count, mean = len(values), float(values.mean())
    if count < MIN_BLOCKS:
        raise ValueError(f"a paired comparison needs at least {MIN_BLOCKS} blocks, got {count}")
    error = float(values.std(ddof=1)) / np.sqrt(count)
    if error == 0.0:  # every block agrees exactly: the interval is the point
        return mean, mean, mean, 1.0 if mean == 0.0 else 0.0
    half = float(stats.t.ppf(0.5 + level / 2, count - 1)) * error
    p_value = float(2 * stats.t.sf(abs(mean) / error, count - 1))
    return mean, mean - half, mean + half, p_value


def paired_ratio(reference: Sequence[float], candidate: Sequence[float], level: float = 0.95) -> PairedInterval:
    """candidate / reference as the geometric mean of per-block ratios, with a t interval on the log scale.

    Both sequences hold one positive value per block, in block order."""
    logs = np.log(np.asarray(candidate, float)) - np.log(np.asarray(reference, float))
    mean, low, high, p_value = t_interval(logs, level)
    return PairedInterval(float(np.exp(mean)), float(np.exp(low)), float(np.exp(high)), p_value, len(logs))


def paired_difference(reference: Sequence[float], candidate: Sequence[float],
                      level: float = 0.95) -> PairedInterval:
    """candidate - reference as the mean of per-block differences, with a t interval."""
    differences = np.asarray(candidate, float) - np.asarray(reference, float)
    mean, low, high, p_value = t_interval(differences, level)
    return PairedInterval(mean, low, high, p_value, len(differences))


def verdict(interval: PairedInterval, adjusted_p: float, alpha: float, band: tuple[float, float],
            kind: str, direction: Direction = "lower_is_better") -> str:
    """One of the change words of ``kind``, "equivalent" or "inconclusive" (see the module docstring).

    ``band`` is the equivalence band (low, high) around no change, on the interval's own scale; no change is
    the band's centre for differences (0) and 1 for ratios, both inside it."""
    better, worse = CHANGE_WORDS[kind]
    no_change = 0.0 if band[0] < 0 else 1.0
    if band[0] <= interval.low and interval.high <= band[1]:
        return "equivalent"
    if adjusted_p < alpha and interval.high < no_change:
        return better if direction == "lower_is_better" else worse
    if adjusted_p < alpha and interval.low > no_change:
        return worse if direction == "lower_is_better" else better
    return "inconclusive"


def holm(pvalues: list[float], family: int | None = None) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order. ``family``: the
    declared family's size when some of its members have no p-value (overloaded, too few units): they count
    as p = 1, so the family does not shrink with the data."""
    count = max(len(pvalues), family or 0)
    order = np.argsort(pvalues, kind="stable")
    adjusted = np.empty(len(pvalues))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted.tolist()
