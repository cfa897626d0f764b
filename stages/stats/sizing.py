"""How large a change an experiment can detect, and how many blocks it needs for the change a user cares about.

A paired comparison over ``blocks`` blocks tests the mean of per-block log ratios with a t test; its power against
a true log ratio ``delta`` is that of a noncentral t with ``blocks - 1`` degrees of freedom and noncentrality
``delta * sqrt(blocks) / sd``, ``sd`` the spread of the per-block log ratios. The test runs at the family's
Bonferroni level (``alpha / tests``): Holm's first step, so the figure is what the weakest-placed verdict gets.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import optimize, stats

POWER = 0.8
MAX_BLOCKS = 200


def t_power(delta: float, sd: float, blocks: int, alpha: float) -> float:
    """Power of the two-sided paired t test at level ``alpha`` against a true mean log ratio ``delta``."""
    if blocks < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if delta != 0 else alpha
    freedom = blocks - 1
    critical = float(stats.t.ppf(1 - alpha / 2, freedom))
    shift = abs(delta) * np.sqrt(blocks) / sd
    wrong_side = float(stats.nct.cdf(-critical, freedom, shift))  # NaN deep in the tail (scipy): nothing there
    return float(stats.nct.sf(critical, freedom, shift)) + (wrong_side if np.isfinite(wrong_side) else 0.0)


def detectable_log_ratio(sd: float, blocks: int, alpha: float, power: float = POWER) -> float:
    """The smallest |mean log ratio| detected with ``power``: inf when no change can be (fewer than 2 blocks)."""
    if blocks < 2 or not np.isfinite(sd):
        return float("inf")
    if sd <= 0:
        return 0.0
    return sd * _unit_detectable(blocks, alpha, power)


@functools.lru_cache(maxsize=1024)
def _unit_detectable(blocks: int, alpha: float, power: float) -> float:
    """The detectable log ratio at ``sd`` 1: power depends on ``delta / sd`` only, so every ``sd`` scales it
    (the calibration asks this thousands of times with a handful of block counts)."""
    upper = 1.0
    while t_power(upper, 1.0, blocks, alpha) < power:
        upper *= 2
    return float(optimize.brentq(lambda delta: t_power(delta, 1.0, blocks, alpha) - power, 0.0, upper))


def blocks_needed(sd: float, log_ratio: float, alpha: float, power: float = POWER) -> int:
    """The fewest blocks whose test detects ``log_ratio`` with ``power`` (``MAX_BLOCKS`` when even those fail)."""
    for blocks in range(2, MAX_BLOCKS + 1):
        if t_power(log_ratio, sd, blocks, alpha) >= power:
            return blocks
    return MAX_BLOCKS


def sd_upper_bound(sd: float, blocks: int, level: float = 0.95) -> float:
    """One-sided upper confidence bound of a standard deviation estimated from ``blocks`` values (chi-square):
    with 4 blocks the true spread may be ~3x the one seen."""
    freedom = blocks - 1
    if freedom < 1:
        return float("inf")
    return float(sd * np.sqrt(freedom / stats.chi2.ppf(1 - level, freedom)))
