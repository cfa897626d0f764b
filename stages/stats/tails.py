"""Percentiles only where enough requests back them, with distribution-free confidence bounds.

MLPerf LoadGen's rule: to claim the q-quantile with confidence ``c`` from n requests with no violation, n must
satisfy ``1 - q**n >= c``; for p99 at 99 % that is 459 requests. Below that count the p99 of a sample is the
largest few values, not an estimate, and no distribution-free 95 % interval of p99 has a finite upper end below
367 requests. The interval itself is the order-statistic (binomial) one: exact for independent requests; requests
inside a run are autocorrelated, so it is a lower bound on the uncertainty, and verdicts come from the run-level
comparison in :mod:`stages.stats.paired` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class QuantileInterval:
    estimate: float
    low: float
    high: float


def quantile_interval(values: np.ndarray, quantile: float, level: float = 0.95) -> QuantileInterval | None:
    """The sample quantile and its order-statistic interval; None where the interval has no finite end."""
    ordered = np.sort(np.asarray(values, float))
    count = len(ordered)
    if count == 0:
        return None
    tail = (1 - level) / 2
    low_rank = int(stats.binom.ppf(tail, count, quantile))  # 1-based rank of the lower bound
    high_rank = int(stats.binom.ppf(1 - tail, count, quantile)) + 1
    if low_rank < 1 or high_rank > count:
        return None
    return QuantileInterval(float(np.quantile(ordered, quantile)), float(ordered[low_rank - 1]),
                            float(ordered[high_rank - 1]))


def effective_sample(latencies_ms: np.ndarray) -> float:
    """The independent requests a run's latencies are worth: n (1 - rho) / (1 + rho), rho the lag-1
    autocorrelation of their logs in schedule order (clipped to [0, 0.95]). A slow stretch slows its neighbours,
    so 121 requests with rho 0.39 back a percentile like 53 independent ones; a queue that grows (rho near 1)
    backs none."""
    logs = np.log(np.maximum(np.asarray(latencies_ms, float), 1e-9))
    if len(logs) < 3 or logs.std() == 0:
        return float(len(logs))
    rho = float(np.clip(np.corrcoef(logs[:-1], logs[1:])[0, 1], 0.0, 0.95))
    return len(logs) * (1 - rho) / (1 + rho)
