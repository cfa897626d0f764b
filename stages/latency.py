"""Offline (in-process) latency of a classifier: the physical limit that serving overhead is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def measure_latency(predict: Callable[[list[str]], object], texts: list[str], warmup: int, repeats: int) -> dict:
    """Time ``predict(texts)`` end to end (tokenization included) ``repeats`` times after ``warmup`` calls.

    Returns per-call latency percentiles in milliseconds and throughput in texts per second at the median.
    """
    for _ in range(warmup):
        predict(texts)
    samples_ms = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        predict(texts)
        samples_ms[i] = (time.perf_counter() - start) * 1e3
    p50, p99 = np.percentile(samples_ms, [50, 99])
    return {
        "latency": {
            "p50": float(p50),
            "p99": float(p99),
            "mean": float(samples_ms.mean()),
            "min": float(samples_ms.min()),
            "max": float(samples_ms.max()),
            "repeats": repeats,
        },
        "throughput_per_s": float(len(texts) / (p50 / 1e3)),
    }
