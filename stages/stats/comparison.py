"""Typed shapes of the compare stage's files: ``comparison.json`` (the headline ``dvc exp show`` lists) and
``comparison_detail.json`` (everything the report renders). Written and read through these models, like the
shared contracts in :mod:`stages.records`; they live here because only compare and report use them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from stages.records.base import RecordFile, Result
from stages.records.capacity import Capacity


class Estimate(Result):
    """A point estimate with its confidence interval."""

    estimate: float
    low: float
    high: float


class Verdict(StrEnum):
    """What a comparison concludes, a fixed vocabulary: a change word of its kind, no change, no call, or the
    reason there is no verdict (said in ``verdict_detail``)."""

    FASTER = "faster"
    SLOWER = "slower"
    HIGHER = "higher"
    LOWER = "lower"
    FEWER = "fewer"
    MORE = "more"
    CHEAPER = "cheaper"
    COSTLIER = "costlier"
    EQUIVALENT = "equivalent"
    INCONCLUSIVE = "inconclusive"
    UNDERPOWERED = "underpowered"
    OVERLOADED = "overloaded"
    INSUFFICIENT_DATA = "insufficient data"
    TOO_FEW_REQUESTS = "too few requests"
    NOT_MEASURED = "not measured"
    DESCRIPTIVE = "descriptive"
    PENDING = "pending"


class StatisticComparison(Result):
    """One statistic of both arms: pooled values over the blocks used, the comparison's estimate with its CI (a
    ratio candidate / reference, or a difference of shares for counts), p-values and the verdict.

    ``role``: "primary" verdicts form one family across the report (Holm); "secondary" ones are descriptive, at
    the unadjusted level. ``verdict`` is a :class:`Verdict`: a change word, "equivalent", "inconclusive",
    "descriptive", or why there is none ("too few requests", "overloaded", "underpowered" ...), with the
    particulars in ``verdict_detail``.
    Primary ratios: ``level`` is their interval's confidence, simultaneous over the family and the looks
    (:mod:`stages.stats.design`); ``mde_factor`` the smallest factor either way (1.25: x1.25 or x0.80) the
    verdict detects with 80 % power at that level, also at the 95 % upper bound of ``block_sd`` (the spread of
    the per-block log ratios; few blocks: wide); ``power`` the power for ``target_factor``, the design's target.
    Counts: ``mde`` is the smallest difference of shares detected."""

    name: str
    role: Literal["primary", "secondary"]
    method: str
    reference: float | None = None
    candidate: float | None = None
    ratio: Estimate | None = None
    p_value: float | None = None
    p_holm: float | None = None
    block_sd: float | None = None
    level: float | None = None
    mde_factor: float | None = None
    mde_factor_at_sd_upper: float | None = None
    target_factor: float | None = None
    power: float | None = None
    mde: float | None = None
    quiet: QuietAdjusted | None = None  # the ratio at a machine that lost nothing (probe covariate), descriptive
    verdict: Verdict
    verdict_detail: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _sentence_split(cls, data: Any) -> Any:
        """A file written before the vocabulary held "word: why" in ``verdict``: the word, and the why apart."""
        if isinstance(data, dict) and isinstance(data.get("verdict"), str) and ": " in data["verdict"]:
            word, detail = data["verdict"].split(": ", 1)
            data = {**data, "verdict": word, "verdict_detail": data.get("verdict_detail") or detail}
        return data

    @property
    def said(self) -> str:
        """The verdict as a sentence: its word, and the why where there is one."""
        return f"{self.verdict}: {self.verdict_detail}" if self.verdict_detail else str(self.verdict)


class QuietAdjusted(Result):
    """A primary ratio adjusted to a machine that lost nothing to steal (:mod:`stages.stats.adjusted`): the ratio
    at stolen share 0 with its interval, the factor the adjustment moved it by (adjusted / unadjusted), the factor
    the ratio changes by per 10 points of steal, and the blocks' stolen shares it was fitted over."""

    ratio: Estimate
    moved: float
    slope_per_10_points: float
    stolen_range: list[float]
    blocks: int


class ExcludedRun(Result):
    path: str
    reasons: list[str]


class RunSpread(Result):
    """Between-repeat spread of one statistic: min, max and coefficient of variation over runs."""

    min: float
    max: float
    cv: float


class Overload(Result):
    """Whether an arm's queue grew through its runs (backlog slope: s of latency per s of schedule)."""

    runs: int
    overloaded_runs: int
    median_backlog_slope: float
    peak_backlog: int = 0  # the most requests waiting at a window's end in any run
    overloaded: bool


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
    requests_per_run: int | None = None  # the fewest measured requests of any run used
    realised_rate_per_s: dict[str, float] | None = None  # per arm: measured requests per s of their window
    primary: dict[str, StatisticComparison] | None = None  # p50, tail
    secondary: dict[str, StatisticComparison] | None = None  # p99 (pooled), error_rate, slo_miss, throughput
    overload: dict[str, Overload] | None = None
    quantiles: dict[str, dict[str, Estimate | None]] | None = None  # pooled, order-statistic CIs, per arm
    outcomes: dict[str, dict[str, int]] | None = None
    spread: dict[str, dict[str, RunSpread]] | None = None
    verdicts_with_excluded_runs: dict[str, str] | None = None  # primary verdicts from every block's first run

    def statistics(self) -> dict[str, StatisticComparison]:
        return {**(self.primary or {}), **(self.secondary or {})}


class ComparisonDetail(RecordFile):
    scenarios: dict[str, ScenarioComparison]
    aa: ScenarioComparison | None = None  # the A/A check (loadtest.aa), None when off
    aa_scenario: str | None = None
    capacity: Capacity | None
    params: dict[str, object]
    primary_family: int = 0  # primary verdicts under one Holm correction (the A/A is its own family)
    looks: int = 1  # analyses the sequential design may take (repeats: auto); each spends alpha / looks
    verdict_level: float | None = None  # the primary intervals' simultaneous confidence


class ScenarioHeadline(Result):
    comparable: bool
    blocks: int = 0
    overloaded: list[str] = Field(default_factory=list)
    p50_ratio: float | None = None
    p50_ratio_ci: list[float] | None = None
    p50_verdict: Verdict | None = None
    p50_detects: float | None = None  # the factor either way detected with 80 % power (1.25: x1.25 or x0.80)
    p50_power: float | None = None  # for the design's target change
    tail: str | None = None  # which percentile of each run the tail verdict is on
    tail_ratio: float | None = None
    tail_ratio_ci: list[float] | None = None
    tail_verdict: Verdict | None = None
    tail_detects: float | None = None
    tail_power: float | None = None
    interval_level: float | None = None  # the intervals' simultaneous confidence (family and looks)
    cost_ratio: float | None = None  # CPU time per request, candidate / reference
    cost_ratio_ci: list[float] | None = None
    cost_verdict: Verdict | None = None
    error_rate_verdict: Verdict | None = None
    excluded_runs: int = 0


class Comparison(RecordFile):
    scenarios: dict[str, ScenarioHeadline]
    aa: ScenarioHeadline | None = None
    capacity_ratio: float | None


class CalibrationCase(Result):
    """One synthetic case: shares of trials per verdict (scenario -> statistic -> verdict), the share of trials
    with any primary change called, CI coverage of the true ratio and mean MDE per primary statistic, and the
    share of runs the audit excluded (and the loadtest rerun)."""

    description: str
    verdicts: dict[str, dict[str, dict[str, float]]]
    joint_change: float
    coverage: dict[str, dict[str, float | None]]
    mde: dict[str, dict[str, float | None]]  # mean factor detected either way (80 % power)
    excluded_share: float
    simultaneous_coverage: float | None = None  # trials whose every primary interval covered its truth
    aa_change: float | None = None  # trials whose A/A check (identical twins) called a change
    gate_failed: float = 0.0  # trials whose gate failed (capacity aside)
    overload_called: float = 0.0  # trials with an arm called overloaded
    blocks: dict[str, float] | None = None  # mean blocks per scenario (the stopping rule's)


class CalibrationCheck(Result):
    """One measured property against its target (the worst value over ``over``)."""

    value: float | None
    target: str
    passed: bool
    over: str


class Calibration(RecordFile):
    """``results/calibration.json``: the compare stage's measured error rates on synthetic experiments with the
    experiment's own schedules, block count and variance components (``noise``, per scenario)."""

    blocks: int
    trials: int
    monte_carlo_error_at_5pct: float
    family: int = 0  # the design replayed: primary verdicts in the Holm family ...
    looks: int = 1  # ... the stopping rule's looks (repeats: auto), each spending alpha / looks ...
    blocks_range: list[int] | None = None  # ... between these blocks (None: each scenario's own count)
    interval_level: float | None = None  # ... and the primary intervals' simultaneous confidence
    noise: dict[str, dict[str, float]]
    overloaded: list[str]  # scenarios whose experiment had an overloaded arm: no power target there
    cases: dict[str, CalibrationCase]
    checks: dict[str, CalibrationCheck]
