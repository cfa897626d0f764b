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


MIN_REPEATS = 5  # a time budget never cuts a measurement below this many timed calls


def measure_latency(predict: Callable[[list[str]], object], batches: Sequence[list[str]], warmup: int,
                    max_seconds: float | None = None) -> Timing:
    """Time ``predict(batch)`` end to end (tokenization included) for each batch, after ``warmup`` calls.

    Passing a sequence of different batches measures over realistic text-length variation, as a server sees
    it; passing one batch repeated measures a fixed shape. ``max_seconds`` stops early once that much time was
    spent timing (after at least ``MIN_REPEATS`` calls): a slow variant at a large batch size needs fewer
    repeats for a stable median than a fast one, and would otherwise dominate the stage's run time.
    """
    for i in range(warmup):
        predict(batches[i % len(batches)])
    samples: list[float] = []
    started = time.perf_counter()
    for batch in batches:
        start = time.perf_counter()
        predict(batch)
        samples.append((time.perf_counter() - start) * 1e3)
        if max_seconds is not None and len(samples) >= MIN_REPEATS and time.perf_counter() - started >= max_seconds:
            break
    samples_ms = np.asarray(samples)
    mean_batch = float(np.mean([len(batch) for batch in batches[: len(samples)]]))
    return Timing(samples, latency_stats(samples_ms), mean_batch / (float(np.median(samples_ms)) / 1e3))
