"""Typed shapes of the compare stage's files: ``comparison.json`` (the headline ``dvc exp show`` lists) and
``comparison_detail.json`` (everything the report renders). Written and read through these models, like the
shared contracts in :mod:`stages.common.results`; they live here because only compare and report use them."""

from __future__ import annotations

from pydantic import Field

from stages.common.results import Capacity, Result


class Estimate(Result):
    """A point estimate with its confidence interval."""

    estimate: float
    low: float
    high: float


class StatisticComparison(Result):
    """One statistic of both arms: pooled values over the blocks used, the run-level paired ratio (a difference
    for error rates) with its CI and t-test p-value, and the verdict. ``verdict`` is a change word, "equivalent",
    "inconclusive", or a sentence saying why there is none ("too few requests: ...", "not comparable: ...")."""

    reference: float | None = None
    candidate: float | None = None
    ratio: Estimate | None = None
    p_value: float | None = None
    p_holm: float | None = None
    verdict: str


class ExcludedRun(Result):
    path: str
    reasons: list[str]


class Spread(Result):
    """Between-repeat spread of one statistic: min, max and coefficient of variation over runs."""

    min: float
    max: float
    cv: float


class ScenarioComparison(Result):
    """``candidate`` vs ``reference`` in one scenario, paired by block. Only ``comparable``, ``reason`` and the
    run bookkeeping when fewer than two blocks have a valid run of both arms."""

    reference: str
    candidate: str
    comparable: bool
    reason: str | None = None
    blocks: list[int] = Field(default_factory=list)
    excluded_runs: dict[str, list[ExcludedRun]] = Field(default_factory=dict)
    unpaired_blocks: dict[str, list[int]] = Field(default_factory=dict)  # valid runs without a valid partner
    requests_used: dict[str, int] | None = None
    latency: dict[str, StatisticComparison] | None = None  # p50, p95, p99, mean
    quantiles: dict[str, dict[str, Estimate | None]] | None = None  # pooled, order-statistic CIs, per arm
    throughput: StatisticComparison | None = None
    error_rate: StatisticComparison | None = None
    outcomes: dict[str, dict[str, int]] | None = None
    spread: dict[str, dict[str, Spread]] | None = None


class ComparisonDetail(Result):
    scenarios: dict[str, ScenarioComparison]
    aa: ScenarioComparison | None = None  # the A/A check (loadtest.aa), None when off
    aa_scenario: str | None = None
    capacity: Capacity | None
    params: dict[str, object]


class ScenarioHeadline(Result):
    comparable: bool
    blocks: int = 0
    p50_ratio: float | None = None
    p50_ratio_ci: list[float] | None = None
    p50_verdict: str | None = None
    p99_ratio: float | None = None
    p99_ratio_ci: list[float] | None = None
    p99_verdict: str | None = None
    throughput_ratio: float | None = None
    throughput_verdict: str | None = None
    error_rate_verdict: str | None = None
    excluded_runs: int = 0


class Comparison(Result):
    scenarios: dict[str, ScenarioHeadline]
    aa: ScenarioHeadline | None = None
    capacity_ratio: float | None


class CalibrationCase(Result):
    """One synthetic case at one level of run-to-run variation: share of trials per verdict and CI coverage of
    the true ratio, per statistic (coverage only where the truth is a known ratio)."""

    description: str
    run_cv: float
    verdicts: dict[str, dict[str, float]]
    coverage: dict[str, float | None]


class Calibration(Result):
    """``results/calibration.json``: the compare code's measured error rates at the pipeline's run count."""

    blocks: int
    requests_per_run: int
    autocorrelation: float
    trials: int
    monte_carlo_error_at_5pct: float
    cases: dict[str, CalibrationCase]  # "<case>@cv<run_cv>"
