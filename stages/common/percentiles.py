"""One latency summary for every measurement: offline timing, the serving limits and load runs."""

from __future__ import annotations

import math

import numpy as np

from stages.records.base import LatencyStats

LATENCY_PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p99_9": 99.9}


def latency_stats(samples_ms: np.ndarray | list[float]) -> LatencyStats:
    """Percentiles, max, mean and count of latency samples in milliseconds (all None but count when empty)."""
    values = np.asarray(samples_ms, dtype=float)
    if len(values) == 0:
        return LatencyStats(**{name: None for name in [*LATENCY_PERCENTILES, "max", "mean"]}, count=0)
    result = dict(zip(LATENCY_PERCENTILES, np.percentile(values, list(LATENCY_PERCENTILES.values())).tolist(),
                      strict=True))
    return LatencyStats(**result, max=float(values.max()), mean=float(values.mean()), count=len(values))


# The tail percentiles a verdict may test, highest first: the highest that a run's requests back is tested.
TAIL_CANDIDATES = {"p99": 0.99, "p95": 0.95, "p90": 0.90}


def min_requests(quantile: float, confidence: float = 0.99) -> int:
    """The fewest samples that back a claim on ``quantile`` (MLPerf LoadGen's rule ``1 - q**n >= confidence``:
    459 for p99 at 99 %). Below it, a sample's p99 is its largest few values, not an estimate."""
    return math.ceil(math.log(1 - confidence) / math.log(quantile))
