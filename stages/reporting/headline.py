"""The headline metrics: the few numbers a reader compares between experiments.

Only this file is DVC's ``metrics:`` (the detailed JSON files stay outputs), so ``dvc exp show`` fits a terminal
and ``dvc metrics diff`` reads like the report's first table, which is rendered from the same dictionary.
Ratios are optimized / baseline; verdicts are the p99 verdicts of the paired comparison.
"""

from __future__ import annotations

import statistics

from stages.common.results import Limits, Resilience, Validation
from stages.stats.comparison import ComparisonDetail

Metrics = dict[str, dict[str, float | str | None]]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def worst_recovery_s(resilience: Resilience) -> float | None:
    """The slowest fault's median time to recovery; None when some fault never recovered (or nothing ran)."""
    medians = []
    for fault in resilience.faults.values():
        times = [run.time_to_recovery_s or 0.0 for run in fault.runs if run.verdict != "not recovered"]
        if len(times) < len(fault.runs):
            return None
        medians.append(statistics.median(times))
    return max(medians, default=None)


def headline_metrics(validation: Validation, limits: Limits, detail: ComparisonDetail,
                     resilience: Resilience | None) -> Metrics:
    """About fifteen numbers, grouped so that ``dvc exp show`` columns read ``p99_ratio.steady``."""
    served = {name: service.variant for name, service in limits.services.items()}
    metrics: Metrics = {
        "accuracy": {name: _rounded(validation.variants[variant].accuracy, 4) for name, variant in served.items()},
        "f1_macro": {name: _rounded(validation.variants[variant].f1_macro, 4) for name, variant in served.items()},
        "p50_ratio": {}, "p99_ratio": {}, "p99_verdict": {},
    }
    for scenario, comparison in detail.scenarios.items():
        latency = comparison.latency or {}
        for stat in ("p50", "p99"):
            ratio = latency[stat].ratio if stat in latency else None
            metrics[f"{stat}_ratio"][scenario] = _rounded(ratio.estimate if ratio else None, 3)
        verdict = latency["p99"].verdict if "p99" in latency else "not compared"
        metrics["p99_verdict"][scenario] = verdict.split(":")[0]  # "too few requests: p99 needs ..." -> its gist
    capacity = detail.capacity
    if capacity is not None:
        metrics["capacity_per_s"] = {name: _rounded(service.capacity_per_s, 2)
                                     for name, service in capacity.services.items()}
        metrics["capacity_per_s"]["ratio"] = _rounded(capacity.ratio, 2)
    optimized = limits.services.get("optimized")
    if optimized is not None:
        metrics["optimized"] = {"overhead_ms": _rounded(optimized.overhead_ms, 2),
                                "cold_start_s": _rounded(optimized.cold_start_s, 2)}
        if resilience is not None:
            metrics["optimized"]["worst_recovery_s"] = _rounded(worst_recovery_s(resilience), 1)
            metrics["optimized"]["faults_not_recovered"] = sum(fault.verdict == "not recovered"
                                                               for fault in resilience.faults.values())
    return metrics
