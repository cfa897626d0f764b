"""Offline (in-process) latency of a classifier: the physical limit that serving overhead is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from stages.common.percentiles import latency_stats
from stages.common.results import LatencyStats


@dataclass(frozen=True)
class Timing:
    samples_ms: list[float]
    latency: LatencyStats
    throughput_per_s: float  # texts per second at the median latency


def measure_latency(predict: Callable[[list[str]], object], batches: Sequence[list[str]], warmup: int) -> Timing:
    """Time ``predict(batch)`` end to end (tokenization included) for each batch, after ``warmup`` calls.

    Passing a sequence of different batches measures over realistic text-length variation, as a server sees
    it; passing one batch repeated measures a fixed shape.
    """
    for i in range(warmup):
        predict(batches[i % len(batches)])
    samples_ms = np.empty(len(batches))
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        predict(batch)
        samples_ms[i] = (time.perf_counter() - start) * 1e3
    mean_batch = float(np.mean([len(batch) for batch in batches]))
    return Timing(samples_ms.tolist(), latency_stats(samples_ms), mean_batch / (float(np.median(samples_ms)) / 1e3))
