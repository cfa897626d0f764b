"""Recovery figures of one fault run, computed from its per-request records only, at the requests' resolution.

Seconds on the run's schedule clock; durations count from the fault. A good request is ok within ``slo_ms`` of
its scheduled time. The definitions (steady state before, affected, outage, first success, recovery, relapses,
verdict) and the one timeline they keep (outage start <= outage end <= recovery) are in docs/serving.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.loadgen.client import OUTCOMES
from stages.records.resilience import ErrorWindow, InFlight, RunRecovery, SteadyBefore

VERDICT_ORDER = ("held", "recovered", "not observed long enough", "not recovered")  # best to worst


def _outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["outcome"].astype(str).value_counts()
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}


def _p99(latencies: pd.Series) -> float | None:
    return float(np.percentile(latencies, 99)) if len(latencies) else None


def good(frame: pd.DataFrame, slo_ms: float) -> pd.Series:
    return (frame["outcome"] == "ok") & (frame["latency_ms"] <= slo_ms)


def affected(measured: pd.DataFrame, fault_s: float) -> pd.DataFrame:
    """Requests the fault could touch: scheduled at or after it, or still in flight when it struck."""
    return measured[(measured["scheduled_s"] >= fault_s) | ~(measured["done_s"] < fault_s)]


def steady_before(measured: pd.DataFrame, fault_s: float, slo_ms: float) -> SteadyBefore:
    """The steady-state hypothesis checked on the requests answered before the fault."""
    before = measured[(measured["scheduled_s"] < fault_s) & (measured["done_s"] < fault_s)]
    breaches = int((~good(before, slo_ms)).sum())
    return SteadyBefore(requests=len(before), breaches=breaches, held=bool(len(before)) and breaches == 0)


def recovery_instant(after: pd.DataFrame, ok: pd.Series, healthy_s: float) -> tuple[float, float] | None:
    """(scheduled, answered) times of the first good request, after the first breach, that starts ``healthy_s``
    of good requests (``after`` sorted by scheduled time); None when no such period was observed."""
    scheduled = after["scheduled_s"].to_numpy()
    breach_times = scheduled[~ok.to_numpy()]
    end = scheduled[-1]
    for position in np.flatnonzero(ok.to_numpy() & (scheduled >= breach_times[0])):
        start = scheduled[position]
        later = breach_times[breach_times > start]
        healthy_until = later[0] if len(later) else end
        if healthy_until - start >= healthy_s:
            return float(start), float(after["done_s"].iloc[position])
    return None


def verdict_of(time_to_recovery: float | None, observed_s: float, max_recovery_s: float, healthy_s: float) -> str:
    if time_to_recovery is not None and time_to_recovery <= max_recovery_s:
        return "recovered"
    return "not recovered" if observed_s >= max_recovery_s + healthy_s else "not observed long enough"


def recovery(records: pd.DataFrame, fault_s: float, slo_ms: float, healthy_s: float,
             max_recovery_s: float) -> RunRecovery:
    """Failures by outcome, error window, steady state before, outage, time to first success and to recovery,
    relapses, verdict, in-flight fates (see the module docstring)."""
    measured = records[~records["warmup"]]
    failed = measured[measured["outcome"] != "ok"]
    ok = measured[measured["outcome"] == "ok"]
    failure_end = failed["done_s"].fillna(failed["scheduled_s"])
    after = affected(measured, fault_s).sort_values("scheduled_s")
    after_good = good(after, slo_ms)
    breaching = after[~after_good]
    observed_s = float(after["scheduled_s"].max() - fault_s) if len(after) else 0.0
    outage_start_s = outage_s = first_success_s = None
    recovery_s: float | None = 0.0
    relapses, verdict = 0, "held"
    if len(breaching):
        outage_start = max(float(breaching["scheduled_s"].min()), fault_s)
        recovered = recovery_instant(after, after_good, healthy_s)
        succeeded = ok[ok["scheduled_s"] >= outage_start]
        outage_start_s = outage_start - fault_s
        first_success_s = float(succeeded["done_s"].min() - fault_s) if len(succeeded) else None
        recovery_s = None
        if recovered is not None:
            healthy_from, answered = recovered
            during = breaching[breaching["scheduled_s"] < healthy_from]
            outage_end = min(float(during["done_s"].fillna(during["scheduled_s"]).max()), answered)
            outage_s = max(outage_end - outage_start, 0.0)
            recovery_s = answered - fault_s
            relapses = int((breaching["scheduled_s"] > healthy_from).sum())
        verdict = verdict_of(recovery_s, observed_s, max_recovery_s, healthy_s)
    in_flight = records[(records["sent_s"] < fault_s) & ~(records["done_s"] < fault_s)]
    return RunRecovery.model_validate({
        "scheduled": len(records),
        "recorded": int((records["outcome"] != "not_sent").sum()),  # a final outcome: sent and accounted
        "measured": len(measured),
        "failed": len(failed),
        "failed_by_outcome": _outcome_counts(failed),
        "error_window_s": (ErrorWindow(first=float(failed["scheduled_s"].min()), last=float(failure_end.max()),
                                       length=float(failure_end.max() - failed["scheduled_s"].min()))
                           if len(failed) else None),
        "p99_before_ms": _p99(ok[ok["done_s"] < fault_s]["latency_ms"]),
        "latency_bound_ms": slo_ms,
        "steady_state_before": steady_before(measured, fault_s, slo_ms),
        "breaches": len(breaching),
        "observed_after_s": observed_s,
        "outage_start_s": outage_start_s,
        "outage_s": outage_s,
        "time_to_first_success_s": first_success_s,
        "time_to_recovery_s": recovery_s,
        "relapses": relapses,
        "verdict": verdict,
        "in_flight_at_fault": InFlight(count=len(in_flight), outcomes=_outcome_counts(in_flight)),
    })
