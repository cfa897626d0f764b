"""The whole experiment's comparison (every scenario, the A/A check, one Holm family), with the verdicts
recomputed with the excluded runs beside, and its headline and one line per scenario."""

from __future__ import annotations

import math

from stages.records.capacity import Capacity
from stages.stats.arms import compare_all
from stages.stats.comparison import (
    Comparison,
    ComparisonDetail,
    ScenarioComparison,
    ScenarioHeadline,
    StatisticComparison,
)
from stages.stats.design import AnalysisSettings, design_of, factor
from stages.stats.samples import ArmRuns

REFERENCE, CANDIDATE = "baseline", "optimized"


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf


def _interval(stat: StatisticComparison) -> list[float] | None:
    return [stat.ratio.low, stat.ratio.high] if stat.ratio else None


def headline_of(data: ScenarioComparison) -> ScenarioHeadline:
    """What ``dvc exp show`` lists for one comparison: the primary ratios with CIs, verdicts and MDEs."""
    excluded = sum(len(runs) for runs in data.excluded_runs.values())
    if not data.comparable or data.primary is None or data.secondary is None:
        return ScenarioHeadline(comparable=False, excluded_runs=excluded)
    p50, tail, cost = data.primary["p50"], data.primary["tail"], data.primary["cost"]
    return ScenarioHeadline(
        comparable=True, blocks=len(data.blocks), excluded_runs=excluded,
        overloaded=[arm for arm, state in (data.overload or {}).items() if state.overloaded],
        p50_ratio=p50.ratio.estimate if p50.ratio else None, p50_ratio_ci=_interval(p50), p50_verdict=p50.verdict,
        p50_detects=p50.mde_factor, p50_power=p50.power, tail=tail.name.split(" ")[0] if tail.ratio else None,
        tail_ratio=tail.ratio.estimate if tail.ratio else None, tail_ratio_ci=_interval(tail),
        tail_verdict=tail.verdict, tail_detects=tail.mde_factor, tail_power=tail.power,
        interval_level=p50.level, error_rate_verdict=data.secondary["error_rate"].verdict,
        cost_ratio=cost.ratio.estimate if cost.ratio else None, cost_ratio_ci=_interval(cost),
        cost_verdict=cost.verdict)


def one_line(name: str, data: ScenarioComparison) -> str:
    if not data.comparable or data.primary is None:
        return f"compare: {name}: {data.reason}"
    p50 = data.primary["p50"]
    if p50.ratio is None:
        return f"compare: {name}: p50 {p50.said}"
    detects = f", detects x{p50.mde_factor:.3g} either way" if p50.mde_factor is not None else ""
    ratio = p50.ratio
    return (f"compare: {name}: {data.candidate} / {data.reference} p50 {p50.reference:.1f} -> {p50.candidate:.1f} ms, "
            f"{factor(_log(ratio.estimate))} [{factor(_log(ratio.low))}, {factor(_log(ratio.high))}] over "
            f"{len(data.blocks)} blocks{detects}: {p50.said}")


def compare_experiment(arms: dict[str, dict[str, ArmRuns]], params: AnalysisSettings,
                       capacity: Capacity | None) -> tuple[ComparisonDetail, Comparison]:
    """Every scenario's comparison and the A/A check under one Holm family; where runs were excluded, the
    verdicts they would have given as scheduled are kept beside (a sensitivity check, never the verdict)."""
    aa_service, aa_scenario = params.loadtest.aa.service, params.loadtest.aa_scenario
    aa_pair = (aa_service, aa_scenario) if aa_service is not None and aa_scenario is not None else None
    design = design_of(params)
    scenarios, aa = compare_all(arms, (REFERENCE, CANDIDATE), aa_pair, params.compare, design)
    if any(arm.excluded for runs in arms.values() for arm in runs.values()):
        again, aa_again = compare_all(arms, (REFERENCE, CANDIDATE), aa_pair, params.compare, design,
                                      as_scheduled=True)
        for result, sensitivity in [*zip(scenarios.values(), again.values(), strict=True), (aa, aa_again)]:
            if result is not None and sensitivity is not None:
                result.verdicts_with_excluded_runs = (
                    {key: stat.verdict for key, stat in sensitivity.primary.items()} if sensitivity.primary
                    else {"all": sensitivity.reason or "not comparable"})
    detail = ComparisonDetail(scenarios=scenarios, aa=aa, aa_scenario=aa_scenario, capacity=capacity,
                              params=params.compare.model_dump(), primary_family=design.family,
                              looks=design.looks, verdict_level=1 - design.verdict_alpha)
    headline = Comparison(scenarios={name: headline_of(data) for name, data in scenarios.items()},
                          aa=headline_of(aa) if aa else None, capacity_ratio=capacity.ratio if capacity else None)
    return detail, headline
