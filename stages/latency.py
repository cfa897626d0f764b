"""Offline (in-process) latency of a classifier: the physical limit that serving overhead is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def measure_latency(predict: Callable[[list[str]], object], batches: Sequence[list[str]], warmup: int) -> dict:
    """Time ``predict(batch)`` end to end (tokenization included) for each batch, after ``warmup`` calls.

    Passing a sequence of different batches measures over realistic text-length variation, as a server sees
    it; passing one batch repeated measures a fixed shape. Returns per-call latency percentiles in milliseconds
    and throughput in texts per second at the median latency.
    """
    for i in range(warmup):
        predict(batches[i % len(batches)])
    samples_ms = np.empty(len(batches))
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        predict(batch)
        samples_ms[i] = (time.perf_counter() - start) * 1e3
    p50, p99 = np.percentile(samples_ms, [50, 99])
    mean_batch = float(np.mean([len(batch) for batch in batches]))
    return {
        "latency": {
            "p50": float(p50), "p99": float(p99), "mean": float(samples_ms.mean()),
            "min": float(samples_ms.min()), "max": float(samples_ms.max()), "repeats": len(batches),
        },
        "throughput_per_s": float(mean_batch / (p50 / 1e3)),
        "samples_ms": samples_ms.tolist(),
    }
