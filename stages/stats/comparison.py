"""Typed shapes of the compare stage's files: ``comparison.json`` (the headline ``dvc exp show`` lists) and
``comparison_detail.json`` (everything the report renders). Written and read through these models, like the
shared contracts in :mod:`stages.common.results`; they live here because only compare and report use them."""

from __future__ import annotations

from stages.common.results import Capacity, Result


class Estimate(Result):
    """A point estimate with its 95 % confidence interval."""

    estimate: float
    low: float
    high: float


class LatencyComparison(Result):
    baseline_ms: float
    optimized_ms: float
    ratio: Estimate  # optimized / baseline
    resampled: str  # the bootstrap's unit: runs or requests
    verdict: str | None = None


class ThroughputComparison(Result):
    ratio: Estimate
    resampled: str
    baseline_per_s: float
    optimized_per_s: float
    verdict: str | None = None


class ExcludedRun(Result):
    path: str
    reasons: list[str]


class Spread(Result):
    """Between-repeat spread of one statistic: min, max and coefficient of variation over runs."""

    min: float
    max: float
    cv: float


class ScenarioComparison(Result):
    """Optimized vs baseline in one scenario; only ``comparable`` and ``excluded_runs`` when a service has no
    valid run."""

    comparable: bool
    excluded_runs: dict[str, list[ExcludedRun]]
    runs_used: dict[str, int] | None = None
    requests_used: dict[str, int] | None = None
    latency: dict[str, LatencyComparison] | None = None
    throughput: ThroughputComparison | None = None
    hodges_lehmann_shift_ms: Estimate | None = None
    cliffs_delta: float | None = None
    pvalues: dict[str, float] | None = None
    pvalues_holm: dict[str, float] | None = None
    outcomes: dict[str, dict[str, int]] | None = None
    spread: dict[str, dict[str, Spread]] | None = None


class ComparisonDetail(Result):
    scenarios: dict[str, ScenarioComparison]
    capacity: Capacity | None
    params: dict[str, object]


class ScenarioHeadline(Result):
    comparable: bool
    p50_ratio: float | None = None
    p99_ratio: float | None = None
    p50_ratio_ci: list[float] | None = None
    p99_ratio_ci: list[float] | None = None
    throughput_ratio: float | None = None
    p50_verdict: str | None = None
    excluded_runs: int = 0


class Comparison(Result):
    scenarios: dict[str, ScenarioHeadline]
    capacity_ratio: float | None
