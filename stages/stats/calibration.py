"""Measured error rates of the compare code: synthetic runs with known truth, replayed through it.

Each synthetic run is shaped like the committed load tests: lognormal request latencies whose logs follow an
AR(1) process (requests inside a run are autocorrelated), times a per-run level drawn afresh for every run (the
machine's speed differs between runs: ``run_cv``). Two arms over ``blocks`` blocks go through
:func:`stages.stats.arms.compare_arms` and :func:`stages.stats.arms.add_verdicts` exactly as the compare stage
calls them. Cases: identical arms (the false-change rate), known multiplicative shifts (CI coverage and power),
a candidate that fails its slowest requests (must never be called faster), and a tail-only regression (p99 must
come out slower when enough requests back it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from stages.common.params import CompareParams
from stages.stats.arms import add_verdicts, compare_arms
from stages.stats.samples import ArmRuns, RunSample

MEDIAN_MS = 50.0
LOG_SIGMA = 0.5  # within-run spread of log latency (p99 / p50 ~ 3.2, like the committed optimized runs)
TIMEOUT_MS = 30_000.0
RATE_PER_S = 4.0
STATISTICS = ("p50", "p95", "p99", "mean")


@dataclass(frozen=True)
class Case:
    """A known difference between the candidate and the reference."""

    description: str
    factor: float = 1.0  # every candidate latency times this
    fail_slowest: float = 0.0  # share of each candidate run's slowest requests that fail instead
    slow_share: float = 0.0  # share of candidate requests made ``slow_factor`` times slower (a tail regression)
    slow_factor: float = 1.0


CASES = {
    "identical": Case("the same service in both arms"),
    "x0.95": Case("candidate 5 % faster at every request", factor=0.95),
    "x0.8": Case("candidate 20 % faster", factor=0.8),
    "x0.5": Case("candidate twice as fast", factor=0.5),
    "x0.2": Case("candidate five times as fast", factor=0.2),
    "fails-slowest": Case("candidate fails (times out) its slowest 35 % of requests", fail_slowest=0.35),
    "tail-regression": Case("3 % of candidate requests 4x slower", slow_share=0.03, slow_factor=4.0),
}


def synthetic_latencies(rng: np.random.Generator, requests: int, run_cv: float, autocorrelation: float
                        ) -> np.ndarray:
    """One run's latencies (ms): a per-run level times a stationary AR(1) lognormal process."""
    level = np.exp(rng.normal(0.0, run_cv))
    innovations = rng.normal(0.0, LOG_SIGMA * np.sqrt(1 - autocorrelation**2), requests)
    start = rng.normal(0.0, LOG_SIGMA)
    logs = lfilter([1.0], [1.0, -autocorrelation], innovations, zi=[autocorrelation * start])[0]
    return MEDIAN_MS * level * np.exp(logs)


def synthetic_run(block: int, latencies: np.ndarray, failed: np.ndarray) -> RunSample:
    """A run as :mod:`stages.stats.samples` reads it: failures censored at the timeout."""
    duration_s = len(latencies) / RATE_PER_S
    return RunSample(block=block, latencies_ms=np.where(failed, TIMEOUT_MS, latencies), failures=int(failed.sum()),
                     throughput_ok_per_s=float((~failed).sum() / duration_s),
                     outcomes={"ok": int((~failed).sum()), "timeout": int(failed.sum())})


def synthetic_arms(case: Case, rng: np.random.Generator, blocks: int, requests: int, run_cv: float,
                   autocorrelation: float) -> dict[str, ArmRuns]:
    arms = {"reference": ArmRuns(), "candidate": ArmRuns()}
    for block in range(blocks):
        reference = synthetic_latencies(rng, requests, run_cv, autocorrelation)
        arms["reference"].runs[block] = synthetic_run(block, reference, np.zeros(requests, bool))
        candidate = synthetic_latencies(rng, requests, run_cv, autocorrelation) * case.factor
        candidate = np.where(rng.random(requests) < case.slow_share, candidate * case.slow_factor, candidate)
        failed = candidate >= np.quantile(candidate, 1 - case.fail_slowest) if case.fail_slowest else np.zeros(
            requests, bool)
        arms["candidate"].runs[block] = synthetic_run(block, candidate, failed)
    return arms


@dataclass(frozen=True)
class CaseResult:
    """Share of trials per verdict, and the CI's coverage of the true ratio, per statistic (over the trials that
    had a CI; None for cases without a known ratio or statistics never estimated)."""

    verdicts: dict[str, dict[str, float]]
    coverage: dict[str, float | None]


def run_case(case: Case, params: CompareParams, blocks: int, trials: int, seed: int, run_cv: float) -> CaseResult:
    """``trials`` seeded synthetic comparisons of one case through the real compare code."""
    settings = params.calibration
    rng = np.random.default_rng(seed)
    counts: dict[str, Counter[str]] = {name: Counter() for name in (*STATISTICS, "throughput", "error_rate")}
    covered: Counter[str] = Counter()
    estimated: Counter[str] = Counter()  # trials in which the statistic had a CI at all
    for _ in range(trials):
        arms = synthetic_arms(case, rng, blocks, settings.requests_per_run, run_cv, settings.autocorrelation)
        result = compare_arms(arms, "reference", "candidate", params)
        add_verdicts([result], params)
        statistics = {**(result.latency or {}), "throughput": result.throughput, "error_rate": result.error_rate}
        for name, stat in statistics.items():
            if stat is None:
                continue
            counts[name][stat.verdict.split(":")[0]] += 1
            if name in STATISTICS and stat.ratio is not None:
                estimated[name] += 1
                covered[name] += stat.ratio.low <= case.factor <= stat.ratio.high
    shift_only = case.fail_slowest == 0 and case.slow_share == 0
    return CaseResult(
        verdicts={name: {verdict: count / trials for verdict, count in sorted(tally.items())}
                  for name, tally in counts.items()},
        coverage={name: covered[name] / estimated[name] if shift_only and estimated[name] else None
                  for name in STATISTICS})


def monte_carlo_error(rate: float, trials: int) -> float:
    """Half-width of a 95 % normal interval of a rate estimated from ``trials`` trials."""
    return float(1.96 * np.sqrt(rate * (1 - rate) / trials))
