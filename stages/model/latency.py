"""Offline (in-process) latency of a classifier: the physical limit that serving overhead is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stages.common.percentiles import latency_stats, min_requests
from stages.records.base import LatencyStats


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


@dataclass(frozen=True)
class RoundedTiming:
    """Per variant, the call times of each round (ms), from :func:`interleaved_rounds`."""

    by_round: dict[str, list[list[float]]]


def interleaved_rounds(predictors: Mapping[str, Callable[[list[str]], object]], batch: list[str], rounds: int,
                       calls: int, warmup: int, max_seconds: float | None = None) -> RoundedTiming:
    """Time every predictor on ``batch`` in ``rounds`` rounds; each round times every predictor in turn, the
    order rotated by one each round, so that a disturbance of the machine (another process, a frequency drop)
    lands on every predictor alike instead of on whichever was being timed at the moment.

    ``calls`` is the number of timed calls per predictor in all; ``max_seconds`` (per predictor) lowers it for
    a slow predictor, to at least one call per round, judged from its warm-up calls.
    """
    names = list(predictors)
    per_round: dict[str, int] = {}
    for name, predict in predictors.items():
        started = time.perf_counter()
        for _ in range(max(warmup, 1)):
            predict(batch)
        seconds_per_call = (time.perf_counter() - started) / max(warmup, 1)
        affordable = int(max_seconds / seconds_per_call) if max_seconds is not None else calls
        per_round[name] = max(1, min(calls, affordable) // rounds)
    by_round: dict[str, list[list[float]]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names[index % len(names):] + names[: index % len(names)]:
            samples = []
            for _ in range(per_round[name]):
                start = time.perf_counter()
                predictors[name](batch)
                samples.append((time.perf_counter() - start) * 1e3)
            by_round[name].append(samples)
    return RoundedTiming(by_round)


def round_summary(rounds: list[list[float]], max_round_cv: float, tail_confidence: float = 0.99,
                  level: float = 0.95) -> LatencyStats:
    """Latency over every call, the p50's CI from the rounds' medians (t interval), their spread (CV), and a
    ``disturbed`` flag when that spread exceeds ``max_round_cv``. p99 and p99.9 only where the calls back a
    claim (MLPerf's rule: 459 for p99); otherwise None, with the max beside them."""
    from scipy import stats

    pooled = np.concatenate([np.asarray(r, float) for r in rounds])
    summary = latency_stats(pooled)
    medians = np.array([np.median(r) for r in rounds])
    cv = float(medians.std(ddof=1) / medians.mean()) if len(medians) > 1 else 0.0
    ci = None
    if len(medians) > 1:
        half = float(stats.t.ppf(0.5 + level / 2, len(medians) - 1)) * medians.std(ddof=1) / np.sqrt(len(medians))
        ci = [float(medians.mean() - half), float(medians.mean() + half)]
    hidden = {name: None for name, q in (("p99", 0.99), ("p99_9", 0.999))
              if len(pooled) < min_requests(q, tail_confidence)}
    return summary.model_copy(update={**hidden, "p50_ci": ci, "round_cv": cv, "rounds": len(rounds),
                                      "disturbed": cv > max_round_cv})
