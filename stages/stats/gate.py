"""The gate: conditions on the calibrated verdicts that must hold, each failure said in one line.

k6 users fail a CI job with thresholds on raw percentiles, which trip on noise; here the conditions read the
compare stage's verdicts, whose false-alarm rates the calibration measures, so the gate fails when the evidence
says serving got worse (a "slower" verdict, significantly more failures or SLO misses, an overloaded
candidate, an A/A check that calls identical services different, CPU per request shown above a ceiling, a
capacity ratio below the floor).
"""

from __future__ import annotations

from stages.params.gate import GateParams
from stages.records.base import RecordFile, Result
from stages.stats.comparison import ComparisonDetail, ScenarioComparison, StatisticComparison

# A ratio shown without a verdict (too few blocks, too little power) is a description: the gate does not act on it.
WITHOUT_VERDICT = ("insufficient data", "underpowered", "not measured")


class GateCondition(Result):
    name: str
    passed: bool
    detail: str


class GateResult(RecordFile):
    """``results/gate.json``: every condition checked, and whether all held."""

    passed: bool
    conditions: list[GateCondition]


def _ratio(stat: StatisticComparison) -> str:
    if stat.ratio is None:
        return stat.said
    return (f"ratio {stat.ratio.estimate:.3f} [{stat.ratio.low:.3f}, {stat.ratio.high:.3f}]"
            + (f", Holm p {stat.p_holm:.2g}" if stat.p_holm is not None else ""))


def _scenario_failures(name: str, data: ScenarioComparison, params: GateParams) -> list[str]:
    """One line per condition this scenario's comparison breaks."""
    if not data.comparable:
        return []
    failures = []
    primary, secondary = data.primary or {}, data.secondary or {}
    if params.no_slower:
        failures += [f"{name}: {data.candidate} {stat.name} is slower than {data.reference}'s: {_ratio(stat)}"
                     for stat in primary.values() if stat.verdict == "slower"]
    for key, wanted, label in (("error_rate", params.no_more_failures, "failed share"),
                               ("slo_miss", params.no_more_slo_misses, "SLO-miss share")):
        stat = secondary.get(key)
        if wanted and stat is not None and stat.verdict == "more":
            failures.append(f"{name}: {data.candidate} {label} is higher than {data.reference}'s: "
                            f"{stat.candidate:.4f} vs {stat.reference:.4f}")
    cost = primary.get("cost")
    if params.max_cost_ratio is not None and cost is not None and cost.ratio is not None \
            and cost.verdict not in WITHOUT_VERDICT and cost.ratio.low > params.max_cost_ratio:
        failures.append(f"{name}: {data.candidate} CPU per request is above {params.max_cost_ratio:g}x "
                        f"{data.reference}'s: {_ratio(cost)}")
    overload = (data.overload or {}).get(data.candidate)
    if params.candidate_holds_load and overload is not None and overload.overloaded:
        failures.append(f"{name}: {data.candidate} is overloaded (latency grows "
                        f"{overload.median_backlog_slope * 1e3:.0f} ms per s in {overload.overloaded_runs}/"
                        f"{overload.runs} runs)")
    return failures


def check(detail: ComparisonDetail, params: GateParams) -> GateResult:
    """Every condition of ``params`` against the compare stage's detail."""
    conditions = []
    for name, data in detail.scenarios.items():
        failures = _scenario_failures(name, data, params)
        conditions += [GateCondition(name=f"{name} holds", passed=False, detail=line) for line in failures]
        if not failures:
            verdicts = ", ".join(f"{stat.name} {stat.verdict}" for stat in (data.primary or {}).values())
            conditions.append(GateCondition(name=f"{name} holds", passed=True,
                                            detail=verdicts or data.reason or "not comparable"))
    if params.aa_clean and detail.aa is not None:
        called = [f"{stat.name} {stat.verdict}" for stat in (detail.aa.primary or {}).values()
                  if stat.verdict in ("faster", "slower")]
        conditions.append(GateCondition(
            name="A/A clean", passed=not called,
            detail=(f"identical services called different ({', '.join(called)}): the verdicts cannot be trusted on "
                    "this machine" if called else "identical services not called different")))
    if params.min_capacity_ratio is not None:
        ratio = detail.capacity.ratio if detail.capacity else None
        conditions.append(GateCondition(
            name="capacity ratio", passed=ratio is not None and ratio >= params.min_capacity_ratio,
            detail=f"{'not measured' if ratio is None else f'{ratio:.2f}x'} (at least {params.min_capacity_ratio:g}x)"))
    return GateResult(passed=all(condition.passed for condition in conditions), conditions=conditions)
