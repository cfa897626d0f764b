"""Compare a candidate arm with a reference arm of one scenario, block by block (see :mod:`stages.stats.paired`).

Two **primary** statistics per scenario carry the report's claims: the median and a tail percentile of each run,
each compared over blocks by the paired t on log ratios, with an interval simultaneous over the family and the
looks of :mod:`stages.stats.design`. A verdict needs ``design.min_units`` blocks ("insufficient data" below), and
power >= 0.5 for its target change ("underpowered" below, whatever its p). The tail is the highest of p99, p95 and
p90 that every run's own requests back (:func:`stages.common.percentiles.min_requests`): a statistic is never read
from fewer requests than the rule needs in the unit that is tested. Everything else is **secondary** (descriptive,
at the unadjusted level): the pooled p99 with a block-bootstrap interval (where the pooled requests back it),
error and SLO-miss shares with methods for counts (:mod:`stages.stats.counts`), and throughput on the schedule's
window.

An arm whose queue grows through its runs is **overloaded**: its latency depends on how long the run lasted,
so no latency ratio is claimed for that scenario; the report says "overloaded" instead. Holm's correction runs
once over the declared family of primary verdicts (:func:`add_verdicts`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from stages.common.artifacts import aa_arm
from stages.common.errors import present
from stages.common.percentiles import TAIL_CANDIDATES, min_requests
from stages.params.compare import CompareParams
from stages.stats.adjusted import quiet_adjusted
from stages.stats.comparison import Estimate, Overload, RunSpread, ScenarioComparison, StatisticComparison, Verdict
from stages.stats.counts import count_difference, count_mde
from stages.stats.design import UNDERPOWERED_BELOW, Design, factor
from stages.stats.paired import MIN_BLOCKS, PairedInterval, holm, paired_ratio, verdict
from stages.stats.samples import ArmRuns, RunSample
from stages.stats.sizing import blocks_needed, detectable_log_ratio, sd_upper_bound, t_power
from stages.stats.tails import effective_sample, quantile_interval

PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
PAIRED_T = "paired t on per-run log ratios over blocks"
# Statistics that get a verdict: the kind of change and direction of each.
KINDS = {"p50": ("latency", "lower_is_better"), "tail": ("latency", "lower_is_better"),
         "cost": ("cost", "lower_is_better"),
         "p99": ("latency", "lower_is_better"), "error_rate": ("errors", "lower_is_better"),
         "slo_miss": ("errors", "lower_is_better")}


def tail_percentile(requests_per_run: int, confidence: float) -> tuple[str, float] | None:
    """The highest of p99, p95 and p90 that ``requests_per_run`` back at ``confidence``; None below p90's."""
    for name, quantile in TAIL_CANDIDATES.items():
        if requests_per_run >= min_requests(quantile, confidence):
            return name, quantile
    return None


def _estimate(low: float, estimate: float, high: float) -> Estimate:
    return Estimate(estimate=estimate, low=low, high=high)


def _spread(values: list[float]) -> RunSpread:
    array = np.asarray(values, float)
    cv = float(array.std(ddof=1) / array.mean()) if len(array) > 1 and array.mean() > 0 else 0.0
    return RunSpread(min=float(array.min()), max=float(array.max()), cv=cv)


def _per_run(runs: dict[str, list[RunSample]], arms: tuple[str, str], statistic: Callable[[np.ndarray], float]
             ) -> list[list[float]]:
    return [[statistic(run.latencies_ms) for run in runs[arm]] for arm in arms]


def _paired(name: str, per_run: list[list[float]], pooled: tuple[float, float], level: float,
            stolen: list[float | None]) -> StatisticComparison:
    interval = paired_ratio(per_run[0], per_run[1], level)
    logs = np.log(np.asarray(per_run[1])) - np.log(np.asarray(per_run[0]))
    return StatisticComparison(name=name, role="primary", method=PAIRED_T, reference=pooled[0],
                               candidate=pooled[1], ratio=_estimate(interval.low, interval.estimate, interval.high),
                               p_value=interval.p_value, block_sd=float(logs.std(ddof=1)), level=level,
                               quiet=quiet_adjusted(logs.tolist(), stolen, level), verdict=Verdict.PENDING)


def _block_stolen(runs: dict[str, list[RunSample]], pair: tuple[str, str]) -> list[float | None]:
    """Each block's mean probe stolen share over both arms' runs (None where either has no reading)."""
    return [None if a.probe_stolen is None or b.probe_stolen is None else (a.probe_stolen + b.probe_stolen) / 2
            for a, b in zip(runs[pair[0]], runs[pair[1]], strict=True)]


EXACT_RESAMPLES = 2000  # at most this many multisets are enumerated (6 blocks: 462); beyond, a seeded sample
SAMPLED_RESAMPLES = 2000


@functools.lru_cache(maxsize=16)
def _block_resamples(blocks: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Every multiset of ``blocks`` blocks drawn with replacement and its multinomial probability, or, where
    there are more than ``EXACT_RESAMPLES`` (8 blocks: 6,435; 12: 1.35 million), a seeded sample of draws, equally
    weighted."""
    if math.comb(2 * blocks - 1, blocks) > EXACT_RESAMPLES:
        draws = np.random.default_rng(blocks).integers(0, blocks, (SAMPLED_RESAMPLES, blocks))
        return [tuple(sorted(row)) for row in draws.tolist()], np.ones(SAMPLED_RESAMPLES)
    resamples = list(itertools.combinations_with_replacement(range(blocks), blocks))
    weights = np.array([stats.multinomial.pmf(np.bincount(chosen, minlength=blocks), blocks, [1 / blocks] * blocks)
                        for chosen in resamples])
    return resamples, weights


def _pooled_quantile_ratio(runs: dict[str, list[RunSample]], arms: tuple[str, str], quantile: float,
                           level: float) -> Estimate:
    """Pooled quantile ratio candidate / reference with a paired block-bootstrap percentile interval (blocks
    resampled with both arms together). The bootstrap distribution is enumerated exactly where it is small
    (every multiset of blocks with its multinomial probability: 35 for 4 blocks, 462 for 6), else sampled; it
    is coarse with few blocks, which is why this statistic is descriptive."""
    def ratio(chosen: tuple[int, ...]) -> float:
        values = [np.quantile(np.concatenate([runs[arm][b].latencies_ms for b in chosen]), quantile)
                  for arm in arms]
        return float(values[1] / values[0])

    blocks = len(runs[arms[0]])
    resamples, weights = _block_resamples(blocks)
    ratios = np.array([ratio(chosen) for chosen in resamples])
    order = np.argsort(ratios)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    tail = (1 - level) / 2
    low = ratios[order][min(int(np.searchsorted(cumulative, tail)), len(order) - 1)]
    high = ratios[order][min(int(np.searchsorted(cumulative, 1 - tail)), len(order) - 1)]
    return _estimate(float(low), ratio(tuple(range(blocks))), float(high))


def _counts(name: str, bad: list[list[int]], totals: list[list[int]], params: CompareParams) -> StatisticComparison:
    difference = count_difference(bad[0], totals[0], bad[1], totals[1], params.level)
    method = ("Mantel-Haenszel difference over blocks, Newcombe score interval, Fisher exact test"
              + (f", counts deflated by overdispersion {difference.dispersion:.1f}" if difference.dispersion > 1
                 else ""))
    return StatisticComparison(
        name=name, role="secondary", method=method, reference=difference.reference,
        candidate=difference.candidate, ratio=_estimate(difference.low, difference.estimate, difference.high),
        p_value=difference.p_value, verdict=Verdict.PENDING,
        mde=count_mde(difference.reference, min(sum(t) for t in totals), difference.dispersion, params.alpha))


def run_overloaded(run: RunSample, params: CompareParams) -> bool:
    """A run whose queue grew through it (slope and growth), or whose backlog grew over
    ``overload_windows`` windows in a row and passed ``overload_backlog_s`` of its offered rate at some window's
    end: saturated mid-run, even if it drained before the end."""
    growing = (run.backlog_slope >= params.overload_slope
               and run.backlog_slope * run.window_s * 1e3 >= params.overload_min_growth_ms)
    backlogged = (run.growth_streak() >= params.overload_windows
                  and run.backlog.max(initial=0) > params.overload_backlog_s * run.rate_per_s)
    return growing or backlogged


def overload_of(runs: list[RunSample], params: CompareParams) -> Overload:
    """An arm is overloaded when at least half its runs are (:func:`run_overloaded`)."""
    slopes = [run.backlog_slope for run in runs]
    overloaded = sum(run_overloaded(run, params) for run in runs)
    return Overload(runs=len(runs), overloaded_runs=overloaded, median_backlog_slope=float(np.median(slopes)),
                    peak_backlog=max((int(run.backlog.max(initial=0)) for run in runs), default=0),
                    overloaded=2 * overloaded >= len(runs))


def _overloaded_detail(overload: dict[str, Overload]) -> str | None:
    """Why an overloaded scenario has no latency verdict (None: no arm is overloaded)."""
    names = [f"{arm} (latency grows {o.median_backlog_slope * 1e3:.0f} ms per s in {o.overloaded_runs}/{o.runs} "
             "runs)" for arm, o in overload.items() if o.overloaded]
    return (", ".join(names) + "; its latency depends on the run's length, no ratio is claimed" if names else None)


def _not_comparable(base: ScenarioComparison, why: str) -> ScenarioComparison:
    return base.model_copy(update={"reason": f"not comparable: {why}"})


def primary_statistics(runs: dict[str, list[RunSample]], pooled: dict[str, np.ndarray], pair: tuple[str, str],
                       params: CompareParams, level: float) -> dict[str, StatisticComparison]:
    """The p50 and the tail percentile of each run, paired by block, intervals at ``level`` (verdicts pending).
    The tail is the highest percentile every run's effective sample backs (:func:`effective_sample`)."""
    effective = min(effective_sample(run.latencies_ms) for name in pair for run in runs[name])
    stolen = _block_stolen(runs, pair)
    primary = {"p50": _paired("p50 of each run", _per_run(runs, pair, np.median),
                              (float(np.median(pooled[pair[0]])), float(np.median(pooled[pair[1]]))), level, stolen)}
    tail = tail_percentile(int(effective), params.tail_confidence)
    if tail is None:
        primary["tail"] = StatisticComparison(
            name="tail", role="primary", method=PAIRED_T,
            verdict=Verdict.TOO_FEW_REQUESTS,
            verdict_detail=f"a run needs >= {min_requests(0.9, params.tail_confidence)} measured independent "
                           f"requests for a tail percentile (p90), the least has {effective:.0f} (its requests' "
                           "autocorrelation discounted)")
    else:
        name, quantile = tail
        primary["tail"] = _paired(
            f"{name} of each run", _per_run(runs, pair, lambda values: float(np.quantile(values, quantile))),
            (float(np.quantile(pooled[pair[0]], quantile)), float(np.quantile(pooled[pair[1]], quantile))), level,
            stolen)
    primary["cost"] = cost_statistic(runs, pair, level, stolen)
    return primary


def cost_statistic(runs: dict[str, list[RunSample]], pair: tuple[str, str], level: float,
                   stolen: list[float | None]) -> StatisticComparison:
    """CPU time per request of each run's server, paired by block like the latency statistics: the cost of
    serving, which neither steal nor a neighbour's share enters (:mod:`stages.serving.process_usage`)."""
    costs = [[run.cpu_ms_per_request for run in runs[name]] for name in pair]
    if any(value is None or value <= 0 for side in costs for value in side):
        return StatisticComparison(name="cost", role="primary", method=PAIRED_T,
                                   verdict=Verdict.NOT_MEASURED,
                                   verdict_detail="a run has no server CPU time (cluster mode, or records from "
                                                  "before it was measured)")
    known = [[float(value) for value in side if value is not None] for side in costs]
    stat = _paired("CPU ms per request of each run", known, (float(np.mean(known[0])), float(np.mean(known[1]))),
                   level, stolen)
    return stat.model_copy(update={"method": PAIRED_T + "; the server's user + system CPU time per request"})


def secondary_statistics(runs: dict[str, list[RunSample]], pooled: dict[str, np.ndarray], pair: tuple[str, str],
                         params: CompareParams, pooled_p99: bool = True) -> dict[str, StatisticComparison]:
    """Pooled p99 (where 459 requests per arm back it, and ``pooled_p99``: the calibration and the stopping
    rule's looks, which read no secondary figure, skip its bootstrap), failed and SLO-miss shares, throughput."""
    secondary = {}
    if pooled_p99 and min(len(values) for values in pooled.values()) >= min_requests(0.99, params.tail_confidence):
        secondary["p99"] = StatisticComparison(
            name="p99 of the pooled requests", role="secondary", method="paired block bootstrap (percentile)",
            reference=float(np.quantile(pooled[pair[0]], 0.99)), candidate=float(np.quantile(pooled[pair[1]], 0.99)),
            ratio=_pooled_quantile_ratio(runs, pair, 0.99, params.level), verdict=Verdict.DESCRIPTIVE)
    totals = [[run.requests for run in runs[name]] for name in pair]
    secondary["error_rate"] = _counts("failed share", [[run.failures for run in runs[name]] for name in pair],
                                      totals, params)
    secondary["slo_miss"] = _counts(
        f"share failed or slower than {params.slo_ms:g} ms",
        [[int((run.latencies_ms > params.slo_ms).sum()) for run in runs[name]] for name in pair], totals, params)
    served = [sum(run.served for run in runs[name]) / sum(run.window_s for run in runs[name]) for name in pair]
    secondary["throughput"] = StatisticComparison(
        name="ok requests per second of the schedule's window", role="secondary",
        method="pooled over blocks; both arms ran the same schedule, so its difference is the failed share's",
        reference=served[0], candidate=served[1], verdict=Verdict.DESCRIPTIVE)
    return secondary


def insufficient(blocks: int, design: Design) -> str:
    """Why a ratio from fewer blocks than the design's floor has no verdict, and what it would take."""
    return (f"{blocks} blocks, a ratio verdict needs {design.min_units} (set loadtest.repeats, or auto.min_repeats, "
            f"to {design.min_units} or more); the ratio is descriptive")


def compare_arms(arms: dict[str, ArmRuns], reference: str, candidate: str, params: CompareParams, design: Design,
                 as_scheduled: bool = False, pooled_p99: bool = True) -> ScenarioComparison:
    """Paired run-level comparison of ``candidate`` against ``reference``; verdicts are left "pending" (or say
    why there is none: overloaded, too few requests, fewer blocks than ``design.min_units``).

    ``as_scheduled``: use every block's first run whatever its audit said (the sensitivity analysis)."""
    excluded = {name: arm.excluded for name, arm in arms.items()}
    chosen = {name: (arm.as_scheduled if as_scheduled else arm.runs)
              for name, arm in ((reference, arms.get(reference, ArmRuns())),
                                (candidate, arms.get(candidate, ArmRuns())))}
    blocks = sorted(set(chosen[reference]) & set(chosen[candidate]))
    unpaired = {name: sorted(set(runs) - set(blocks)) for name, runs in chosen.items()}
    base = ScenarioComparison(reference=reference, candidate=candidate, comparable=False, blocks=blocks,
                              excluded_runs=excluded, unpaired_blocks={k: v for k, v in unpaired.items() if v})
    if len(blocks) < MIN_BLOCKS:
        missing = [name for name, runs in chosen.items() if not runs]
        why = (f"no valid run of {' and '.join(missing)}" if missing
               else f"{len(blocks)} block(s) with a valid run of both arms")
        return _not_comparable(base, f"{why}; a paired comparison needs at least {MIN_BLOCKS}")
    pair = (reference, candidate)
    runs = {name: [chosen[name][b] for b in blocks] for name in pair}
    empty = [run.path for name in pair for run in runs[name] if run.requests == 0]
    if empty:
        return _not_comparable(base, f"run(s) {', '.join(empty)} hold no measured request (is the warm-up as "
                                     "long as the run?)")
    pooled = {name: np.concatenate([run.latencies_ms for run in runs[name]]) for name in pair}
    per_run_requests = min(run.requests for name in pair for run in runs[name])
    overload = {name: overload_of(runs[name], params) for name in pair}
    primary = primary_statistics(runs, pooled, pair, params, 1 - design.verdict_alpha)
    overloaded = _overloaded_detail(overload)
    thin = insufficient(len(blocks), design) if len(blocks) < design.min_units else None
    for key, stat in primary.items():
        # Overload withholds the latency verdicts (and explains a tail too short to read: a queue in every run),
        # not the cost: CPU per request served is still what serving cost.
        withheld = ((Verdict.INSUFFICIENT_DATA, thin) if thin and (key == "cost" or not overloaded) else
                    (Verdict.OVERLOADED, overloaded) if overloaded and key != "cost" else None)
        if withheld and (stat.verdict == Verdict.PENDING or (overloaded and key != "cost")):
            (stat.verdict, stat.verdict_detail), stat.p_value = withheld, None
    quantiles = {name: {stat: (Estimate(**vars(interval)) if len(values) >= min_requests(
        q, params.tail_confidence) and (interval := quantile_interval(values, q, params.level)) else None)
        for stat, q in PERCENTILES.items()} for name, values in pooled.items()}
    return base.model_copy(update={
        "comparable": True,
        "requests_used": {name: len(values) for name, values in pooled.items()},
        "requests_per_run": per_run_requests,
        "realised_rate_per_s": {name: float(np.mean([run.rate_per_s for run in runs[name]])) for name in pair},
        "primary": primary,
        "secondary": secondary_statistics(runs, pooled, pair, params, pooled_p99),
        "overload": overload,
        "quantiles": quantiles,
        "outcomes": {name: {key: sum(run.outcomes.get(key, 0) for run in runs[name]) for key in runs[name][0].outcomes}
                     for name in pair},
        "spread": {name: {stat: _spread([float(np.quantile(run.latencies_ms, q)) for run in runs[name]])
                          for stat, q in (("p50", 0.5), ("p95", 0.95))} for name in pair},
    })


def _band(kind: str, params: CompareParams) -> tuple[float, float]:
    return ((-params.error_rate_equivalence, params.error_rate_equivalence) if kind == "errors"
            else (1 - params.equivalence, 1 + params.equivalence))


def _decide(stat: StatisticComparison, key: str, p_value: float, alpha: float, params: CompareParams) -> Verdict:
    kind, direction = KINDS[key]
    ratio = present(stat.ratio, f"the {key} ratio")
    interval = PairedInterval(ratio.estimate, ratio.low, ratio.high, p_value, 0)
    return Verdict(verdict(interval, p_value, alpha, _band(kind, params), kind, direction))  # type: ignore[arg-type]


def primary_family(results: list[ScenarioComparison]) -> list[StatisticComparison]:
    """Every primary statistic still waiting for a verdict: the family's members that have a p-value."""
    return [stat for result in results if result.comparable for stat in (result.primary or {}).values()
            if stat.verdict == "pending"]


def _power(stat: StatisticComparison, key: str, blocks: int, design: Design) -> None:
    """The verdict's MDE as a factor, at the spread's upper bound too, and its power for the design's target."""
    sd = present(stat.block_sd, "the spread of the block log ratios")
    stat.mde_factor = float(np.exp(detectable_log_ratio(sd, blocks, design.verdict_alpha)))
    stat.mde_factor_at_sd_upper = float(np.exp(detectable_log_ratio(sd_upper_bound(sd, blocks), blocks,
                                                                     design.verdict_alpha)))
    stat.target_factor = float(np.exp(design.targets[key]))
    stat.power = t_power(design.targets[key], sd, blocks, design.verdict_alpha)


def underpowered(stat: StatisticComparison, blocks: int, design: Design, key: str) -> str:
    """Why a comparison with power below ``UNDERPOWERED_BELOW`` for its target has no verdict, whatever its p (a
    significant result at low power exaggerates the effect), and what would reach 80 %."""
    needed = blocks_needed(present(stat.block_sd, "the block spread"), design.targets[key], design.verdict_alpha)
    return (f"power {present(stat.power, 'the power'):.2f} to detect {factor(design.targets[key])} or "
            f"{factor(-design.targets[key])} at {blocks} blocks (~{needed} blocks for 0.8); the ratio is descriptive")


def add_verdicts(results: list[ScenarioComparison], params: CompareParams, design: Design) -> None:
    """Holm's correction over the declared family (``design.family`` members, at ``design.look_alpha``), each
    verdict's MDE and power at the family's Bonferroni level (its interval's level); secondary verdicts at the
    unadjusted level. A candidate with significantly more failures is never called faster."""
    family = primary_family(results)
    adjusted = dict(zip(map(id, family), holm([stat.p_value if stat.p_value is not None else 1.0
                                               for stat in family], design.family), strict=True))
    for result in results:
        if not result.comparable:
            continue
        blocks = len(result.blocks)
        for key, stat in (result.primary or {}).items():
            if stat.block_sd is not None:
                _power(stat, key, blocks, design)
            if id(stat) in adjusted:
                stat.p_holm = adjusted[id(stat)]
                stat.verdict = _decide(stat, key, stat.p_holm, design.look_alpha, params)
                if (stat.power or 0.0) < UNDERPOWERED_BELOW:
                    stat.verdict, stat.verdict_detail = Verdict.UNDERPOWERED, underpowered(stat, blocks, design, key)
        for key, stat in (result.secondary or {}).items():
            if stat.verdict == Verdict.PENDING:
                stat.verdict = _decide(stat, key, stat.p_value if stat.p_value is not None else 1.0, params.alpha,
                                       params)
        errors = (result.secondary or {}).get("error_rate")
        if errors is not None and errors.verdict == Verdict.MORE:
            for stat in (result.primary or {}).values():
                if stat.verdict == Verdict.FASTER:
                    stat.verdict = Verdict.INCONCLUSIVE


def compare_all(arms: dict[str, dict[str, ArmRuns]], pair: tuple[str, str], aa: tuple[str, str] | None,
                params: CompareParams, design: Design, as_scheduled: bool = False, pooled_p99: bool = True
                ) -> tuple[dict[str, ScenarioComparison], ScenarioComparison | None]:
    """Every scenario's ``pair`` (reference, candidate) under one Holm family over their primary verdicts, and
    the A/A check ``aa`` (service, scenario: the service against its second arm ``aa-<service>``), its own family.
    Returns the scenarios' comparisons and the A/A one."""
    scenarios = {name: compare_arms(runs, *pair, params, design, as_scheduled, pooled_p99)
                 for name, runs in arms.items()}
    add_verdicts(list(scenarios.values()), params, design)
    check = None
    if aa is not None:
        service, scenario = aa
        check = compare_arms(arms[scenario], service, aa_arm(service), params, design.for_aa(), as_scheduled,
                             pooled_p99)
        add_verdicts([check], params, design.for_aa())
    return scenarios, check
