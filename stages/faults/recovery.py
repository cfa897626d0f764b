"""Recovery figures of one fault run, computed from its per-request records only.

Times are seconds on the run's schedule clock (0 = first scheduled request); durations ``*_s`` count from the
fault. Every scheduled request has one record, so "what became of the requests in flight at the fault" and "how
many failed" are exact counts. Definitions, checkable against the records:

- **before**: the p99 latency of the requests that *completed* (ok) before the fault, for reference; a request
  the fault hit is not part of the "before".
- **steady-state hypothesis** (the service level a user was promised, ``resilience.slo_ms``, the capacity
  objective by default): a window of ``window_s`` (a fixed grid from the fault on, by scheduled time) holds when
  every request in it succeeded within ``slo_ms``. The hypothesis held if every window after the fault holds.
  (A bound relative to the p99 before the fault was tried first: with ~16 requests per window the ordinary
  tail of a fast service breaches 1.5x its own p99 now and then, and "recovery" moved by 20 s on noise.)
- **outage**: from the first request the fault could touch (scheduled after it, or in flight at it) that failed
  or breached the bound, to the start of the first window after which every later window holds (time to
  recovery). A run whose last window still breaches has not recovered.
- **time to first success**: from the fault to the first ok response of a request scheduled at or after the
  outage's start (a success before the outage begins, e.g. during a preStop sleep, does not count).
- **verdict**: "held", "recovered" (within ``max_recovery_s`` of the fault) or "not recovered".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.loadgen.client import OUTCOMES

VERDICT_ORDER = ("held", "recovered", "not recovered")  # best to worst


def _outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["outcome"].astype(str).value_counts()
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}


def _p99(latencies: pd.Series) -> float | None:
    return float(np.percentile(latencies, 99)) if len(latencies) else None


def affected(measured: pd.DataFrame, fault_s: float) -> pd.DataFrame:
    """Requests the fault could touch: scheduled at or after it, or still in flight when it struck (those count
    in the first window)."""
    return measured[(measured["scheduled_s"] >= fault_s) | ~(measured["done_s"] < fault_s)]


def recovered_at(measured: pd.DataFrame, fault_s: float, slo_ms: float, window_s: float) -> tuple[bool, float | None]:
    """(held, time): whether every window from the fault on holds, and the start of the first window after
    which all do (None when the last window breaches)."""
    after = affected(measured, fault_s)
    if after.empty:
        return True, fault_s
    index = ((after["scheduled_s"] - fault_s) // window_s).clip(lower=0).astype(int)
    good = (after["outcome"] == "ok") & (after["latency_ms"] <= slo_ms)
    holds = good.groupby(index).all().reindex(range(int(index.max()) + 1), fill_value=True)
    if holds.all():
        return True, fault_s
    if not holds.iloc[-1]:
        return False, None
    last_breach = int(holds[~holds].index.max())
    return False, fault_s + (last_breach + 1) * window_s


def recovery(records: pd.DataFrame, fault_s: float, window_s: float, slo_ms: float, max_recovery_s: float) -> dict:
    """Failures by outcome, error window, outage, time to first success and to recovery, verdict, in-flight
    fates (see the module docstring)."""
    measured = records[~records["warmup"]]
    failed = measured[measured["outcome"] != "ok"]
    ok = measured[measured["outcome"] == "ok"]
    p99_before = _p99(ok[ok["done_s"] < fault_s]["latency_ms"])
    failure_end = failed["done_s"].fillna(failed["scheduled_s"])
    after = affected(measured, fault_s)
    breaching = after[(after["outcome"] != "ok") | (after["latency_ms"] > slo_ms)]
    held, recovered = recovered_at(measured, fault_s, slo_ms, window_s)
    outage_start = max(float(breaching["scheduled_s"].min()), fault_s) if len(breaching) else None
    first_success = None
    if outage_start is not None:
        succeeded = ok[ok["scheduled_s"] >= outage_start]
        first_success = float(succeeded["done_s"].min() - fault_s) if len(succeeded) else None
    time_to_recovery = None if recovered is None else recovered - fault_s
    in_flight = records[(records["sent_s"] < fault_s) & ~(records["done_s"] < fault_s)]
    verdict = ("held" if held else "recovered" if time_to_recovery is not None and time_to_recovery <= max_recovery_s
               else "not recovered")
    return {
        "scheduled": len(records),
        "recorded": int((records["outcome"] != "not_sent").sum()),  # a final outcome: sent and accounted
        "measured": len(measured),
        "failed": len(failed),
        "failed_by_outcome": _outcome_counts(failed),
        "error_window_s": ({"first": float(failed["scheduled_s"].min()), "last": float(failure_end.max()),
                            "length": float(failure_end.max() - failed["scheduled_s"].min())}
                           if len(failed) else None),
        "p99_before_ms": p99_before,
        "latency_bound_ms": slo_ms,
        "outage_start_s": None if outage_start is None else outage_start - fault_s,
        "outage_s": (None if outage_start is None or recovered is None else max(recovered - outage_start, 0.0)),
        "time_to_first_success_s": first_success,
        "time_to_recovery_s": time_to_recovery,
        "verdict": verdict,
        "in_flight_at_fault": {"count": len(in_flight), "outcomes": _outcome_counts(in_flight)},
    }
