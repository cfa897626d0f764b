"""The headline metrics: the few numbers a reader compares between experiments.

Only this file is DVC's ``metrics:`` (the detailed JSON files stay outputs), so ``dvc exp show`` can show it
and ``dvc metrics diff`` reads like the report's first table, which is rendered from the same dictionary. Names
are short because ``dvc exp show`` makes each column as wide as its name: ``tailx.steady`` is the ratio optimized /
baseline of each run's tail percentile in the steady scenario, ``tail.steady`` its verdict ("overloaded" where an
arm's queue grew), ``p50.steady`` the p50 verdict, ``cap.opt`` the optimized service's
capacity; services are ``base`` and ``opt``. Two views of about ten columns each fit a 200-column terminal
(docs/pipeline.md).
"""

from __future__ import annotations

import statistics

from pydantic import RootModel

from stages.records.limits import Limits
from stages.records.resilience import Resilience
from stages.records.validation import Validation
from stages.reporting.markdown import table
from stages.stats.comparison import ComparisonDetail

Metrics = dict[str, dict[str, int | float | str | None]]


class HeadlineMetrics(RootModel[Metrics]):
    """``results/metrics.json`` (DVC metrics): the groups as they are, no format field among the figures, so that
    ``dvc exp show`` has a column per figure and nothing else."""
SHORT = {"baseline": "base", "optimized": "opt"}
# What each group holds, for the report's headline table.
MEANINGS = {
    "acc": "accuracy of the served variant", "f1": "macro F1 of the served variant",
    "p50x": "p50 latency ratio opt / base (primary)", "tailx": "tail (p99/p95/p90 of runs) ratio opt / base",
    "p50": "p50 verdict", "tail": "tail verdict",
    "costx": "CPU time per request ratio opt / base (primary)", "cost": "cost verdict",
    "cap": "capacity under the p99 objective (req/s; x = opt / base)",
    "opt": "optimized service: overhead over in-process, cold start, worst median recovery, faults not recovered",
}


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def worst_recovery_s(resilience: Resilience) -> float | None:
    """The slowest fault's median time to recovery; None when some fault never recovered (or nothing ran)."""
    medians = []
    for fault in resilience.faults.values():
        times = [run.time_to_recovery_s or 0.0 for run in fault.runs if run.verdict in ("held", "recovered")]
        if len(times) < len(fault.runs):
            return None
        medians.append(statistics.median(times))
    return max(medians, default=None)


def headline_metrics(validation: Validation, limits: Limits, detail: ComparisonDetail,
                     resilience: Resilience | None) -> Metrics:
    """About twenty numbers in short groups (see the module docstring)."""
    served = {SHORT[name]: service.variant for name, service in limits.services.items()}
    metrics: Metrics = {
        "acc": {name: _rounded(validation.variants[variant].accuracy, 4) for name, variant in served.items()},
        "f1": {name: _rounded(validation.variants[variant].f1_macro, 4) for name, variant in served.items()},
        "p50x": {}, "p50": {}, "tailx": {}, "tail": {}, "costx": {}, "cost": {},
    }
    for scenario, comparison in detail.scenarios.items():
        primary = comparison.primary or {}
        for key, stat in (("p50x", "p50"), ("tailx", "tail"), ("costx", "cost")):
            ratio = primary[stat].ratio if stat in primary else None
            metrics[key][scenario] = _rounded(ratio.estimate if ratio else None, 3)
        for stat in ("p50", "tail", "cost"):
            metrics[stat][scenario] = str(primary[stat].verdict) if stat in primary else "not compared"
    capacity = detail.capacity
    if capacity is not None:
        metrics["cap"] = {SHORT[name]: _rounded(service.capacity_per_s, 2)
                          for name, service in capacity.services.items()}
        metrics["cap"]["x"] = _rounded(capacity.ratio, 2)
    optimized = limits.services.get("optimized")
    if optimized is not None:
        metrics["opt"] = {"overhead_ms": _rounded(optimized.overhead_ms, 2),
                          "cold_start_s": _rounded(optimized.cold_start_s, 2)}
        if resilience is not None:
            metrics["opt"]["recovery_s"] = _rounded(worst_recovery_s(resilience), 1)
            metrics["opt"]["not_recovered"] = sum(fault.verdict == "not recovered"
                                                  for fault in resilience.faults.values())
    return metrics


def headline_section(metrics: Metrics) -> str:
    """The headline metrics as a table: the same numbers ``dvc exp show`` and ``dvc metrics diff`` show."""
    rows = [[group, key, "n/a" if value is None else value, MEANINGS[group]]
            for group, values in metrics.items() for key, value in values.items()]
    return ("From `results/metrics.json` (`dvc metrics show`; ratios optimized / baseline; verdicts on the p50 and "
            "the tail percentile of each run).\n\n"
            + table(["metric", "of", "value", "meaning"], rows))
