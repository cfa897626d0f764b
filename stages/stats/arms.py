"""Compare a candidate arm with a reference arm of one scenario, block by block (see :mod:`stages.stats.paired`).

Latency statistics (p50, p95, p99, mean) are computed per run over every measured request, failures censored at
the timeout (:mod:`stages.stats.samples`); a percentile is compared only when each arm's pooled requests back it
(:func:`stages.common.percentiles.min_requests`). Throughput (ok requests per second) is one number per run; the error
rate is compared as a difference. Holm's correction and the verdicts come afterwards, across scenarios
(:func:`add_verdicts`), because the family of tests is the whole stage.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from stages.common.params import CompareParams
from stages.common.percentiles import min_requests
from stages.stats.comparison import Estimate, ScenarioComparison, Spread, StatisticComparison
from stages.stats.paired import MIN_BLOCKS, PairedInterval, holm, paired_difference, paired_ratio, verdict
from stages.stats.samples import ArmRuns
from stages.stats.tails import quantile_interval

PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q))


LATENCY: dict[str, Callable[[np.ndarray], float]] = {
    **{name: partial(_quantile, q=q) for name, q in PERCENTILES.items()},
    "mean": lambda values: float(np.mean(values)),
}
# Statistics that get a verdict, with the kind of change and direction each one has.
FAMILIES = {**{name: ("latency", "lower_is_better") for name in LATENCY},
            "throughput": ("throughput", "higher_is_better"), "error_rate": ("errors", "lower_is_better")}


def _estimate(interval: PairedInterval) -> Estimate:
    return Estimate(estimate=interval.estimate, low=interval.low, high=interval.high)


def _spread(values: list[float]) -> Spread:
    array = np.asarray(values, float)
    cv = float(array.std(ddof=1) / array.mean()) if len(array) > 1 and array.mean() > 0 else 0.0
    return Spread(min=float(array.min()), max=float(array.max()), cv=cv)


def _ratio(reference: list[float], candidate: list[float], level: float, pooled: tuple[float, float]
           ) -> StatisticComparison:
    interval = paired_ratio(reference, candidate, level)
    return StatisticComparison(reference=pooled[0], candidate=pooled[1], ratio=_estimate(interval),
                               p_value=interval.p_value, verdict="pending")


def compare_arms(arms: dict[str, ArmRuns], reference: str, candidate: str,
                 params: CompareParams) -> ScenarioComparison:
    """Paired run-level comparison of ``candidate`` against ``reference``; verdicts are left "pending"."""
    excluded = {name: arm.excluded for name, arm in arms.items()}
    ref, cand = arms.get(reference, ArmRuns()), arms.get(candidate, ArmRuns())
    blocks = sorted(set(ref.runs) & set(cand.runs))
    unpaired = {name: sorted(set(arm.runs) - set(blocks)) for name, arm in ((reference, ref), (candidate, cand))}
    base = ScenarioComparison(reference=reference, candidate=candidate, comparable=False, blocks=blocks,
                              excluded_runs=excluded, unpaired_blocks={k: v for k, v in unpaired.items() if v})
    if len(blocks) < MIN_BLOCKS:
        missing = [name for name, arm in ((reference, ref), (candidate, cand)) if not arm.runs]
        why = (f"no valid run of {' and '.join(missing)}" if missing
               else f"{len(blocks)} block(s) with a valid run of both arms")
        return base.model_copy(update={"reason": f"not comparable: {why}; a paired comparison needs at least "
                                                 f"{MIN_BLOCKS}"})
    runs = {reference: [ref.runs[b] for b in blocks], candidate: [cand.runs[b] for b in blocks]}
    pooled = {name: np.concatenate([run.latencies_ms for run in chosen]) for name, chosen in runs.items()}
    requests = {name: len(values) for name, values in pooled.items()}
    latency = {}
    for name, statistic in LATENCY.items():
        needed = min_requests(PERCENTILES[name], params.tail_confidence) if name in PERCENTILES else 1
        if min(requests.values()) < needed:
            latency[name] = StatisticComparison(verdict=f"too few requests: {name} needs >= {needed} measured "
                                                        f"requests per arm, have {min(requests.values())}")
            continue
        per_run = [[statistic(run.latencies_ms) for run in runs[arm]] for arm in (reference, candidate)]
        latency[name] = _ratio(*per_run, params.level, (statistic(pooled[reference]), statistic(pooled[candidate])))
    quantiles = {}
    for arm, values in pooled.items():
        quantiles[arm] = {}
        for name, q in PERCENTILES.items():
            interval = quantile_interval(values, q, params.level) if len(values) >= min_requests(
                q, params.tail_confidence) else None
            quantiles[arm][name] = Estimate(**vars(interval)) if interval else None
    throughputs = [[run.throughput_ok_per_s for run in runs[arm]] for arm in (reference, candidate)]
    means = (float(np.mean(throughputs[0])), float(np.mean(throughputs[1])))
    if min(min(values) for values in throughputs) <= 0:
        idle = [arm for arm, values in zip((reference, candidate), throughputs, strict=True) if min(values) <= 0]
        throughput = StatisticComparison(reference=means[0], candidate=means[1],
                                         verdict=f"not comparable: a run of {' and '.join(idle)} served no request")
    else:
        throughput = _ratio(*throughputs, params.level, means)
    rates = [[run.failure_rate for run in runs[arm]] for arm in (reference, candidate)]
    difference = paired_difference(*rates, params.level)
    error_rate = StatisticComparison(
        reference=sum(r.failures for r in runs[reference]) / requests[reference],
        candidate=sum(r.failures for r in runs[candidate]) / requests[candidate],
        ratio=_estimate(difference), p_value=difference.p_value, verdict="pending")
    return base.model_copy(update={
        "comparable": True,
        "requests_used": requests,
        "latency": latency,
        "quantiles": quantiles,
        "throughput": throughput,
        "error_rate": error_rate,
        "outcomes": {arm: {key: sum(run.outcomes.get(key, 0) for run in chosen) for key in chosen[0].outcomes}
                     for arm, chosen in runs.items()},
        "spread": {arm: {name: _spread([LATENCY[name](run.latencies_ms) for run in chosen])
                         for name in ("p50", "p99")} for arm, chosen in runs.items()},
    })


def _statistics(result: ScenarioComparison) -> dict[str, StatisticComparison]:
    return {**(result.latency or {}), "throughput": result.throughput, "error_rate": result.error_rate}


def add_verdicts(results: list[ScenarioComparison], params: CompareParams) -> None:
    """Holm across ``results`` per statistic, then every pending verdict; a candidate with significantly more
    errors is never called faster, whatever its latencies say."""
    for name, (kind, direction) in FAMILIES.items():
        pending = [stat for result in results if result.comparable
                   and (stat := _statistics(result).get(name)) is not None and stat.verdict == "pending"]
        adjusted = holm([stat.p_value if stat.p_value is not None else 1.0 for stat in pending])
        band = ((-params.error_rate_equivalence, params.error_rate_equivalence) if kind == "errors"
                else (1 - params.equivalence, 1 + params.equivalence))
        for stat, p_holm in zip(pending, adjusted, strict=True):
            assert stat.ratio is not None
            interval = PairedInterval(stat.ratio.estimate, stat.ratio.low, stat.ratio.high, p_holm, 0)
            stat.p_holm = p_holm
            stat.verdict = verdict(interval, p_holm, params.alpha, band, kind, direction)  # type: ignore[arg-type]
    for result in results:
        if result.error_rate is not None and result.error_rate.verdict == "more":
            for stat in (result.latency or {}).values():
                if stat.verdict == "faster":
                    stat.verdict = "inconclusive"
