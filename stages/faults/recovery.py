"""Recovery figures of one fault run, computed from its per-request records only.

Times are seconds on the run's schedule clock (0 = first scheduled request). Every scheduled request has one
record, so "what became of the requests in flight at the fault" and "how many failed" are exact counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.loadgen.client import OUTCOMES


def _outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["outcome"].astype(str).value_counts()
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}


def _p99(latencies: pd.Series) -> float | None:
    return float(np.percentile(latencies, 99)) if len(latencies) else None


def recovery(records: pd.DataFrame, fault_s: float, window_s: float, tolerance: float) -> dict:
    """Failures by outcome, error window, time to first success, time to p99 recovery, in-flight fates."""
    measured = records[~records["warmup"]]
    failed = measured[measured["outcome"] != "ok"]
    ok = measured[measured["outcome"] == "ok"]
    before = ok[ok["scheduled_s"] < fault_s]
    baseline_p99 = _p99(before["latency_ms"])
    failure_end = failed["done_s"].fillna(failed["scheduled_s"])
    after_fault = ok[ok["sent_s"] >= fault_s]
    in_flight = records[(records["sent_s"] < fault_s) & ~(records["done_s"] < fault_s)]
    return {
        "scheduled": len(records),
        "recorded": int((records["outcome"] != "not_sent").sum()),  # a final outcome: sent and accounted
        "measured": len(measured),
        "failed": len(failed),
        "failed_by_outcome": _outcome_counts(failed),
        "error_window_s": ({"first": float(failed["scheduled_s"].min()), "last": float(failure_end.max()),
                            "length": float(failure_end.max() - failed["scheduled_s"].min())}
                           if len(failed) else None),
        "time_to_first_success_s": float(after_fault["done_s"].min() - fault_s) if len(after_fault) else None,
        "p99_before_ms": baseline_p99,
        "time_to_p99_recovery_s": p99_recovery(measured, fault_s, baseline_p99, window_s, tolerance),
        "in_flight_at_fault": {"count": len(in_flight), "outcomes": _outcome_counts(in_flight)},
    }


def p99_recovery(measured: pd.DataFrame, fault_s: float, baseline_p99: float | None, window_s: float,
                 tolerance: float) -> float | None:
    """Seconds from the fault to the end of the first window (sliding by half a window) whose requests all
    succeeded with p99 within ``(1 + tolerance)`` of the p99 before the fault; None if none did."""
    if baseline_p99 is None:
        return None
    end = float(measured["scheduled_s"].max())
    start = fault_s
    while start + window_s <= end:
        window = measured[(measured["scheduled_s"] >= start) & (measured["scheduled_s"] < start + window_s)]
        if len(window) and (window["outcome"] == "ok").all() and \
                _p99(window["latency_ms"]) <= (1 + tolerance) * baseline_p99:
            return start + window_s - fault_s
        start += window_s / 2
    return None
