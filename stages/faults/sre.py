"""A fault run in the terms an SRE team pages on, from its per-request records: availability over the run and
after the fault, error-budget burn rates over two alerting windows and whether they would page, the p99 after
the fault, recovery counted from the fault's end, and the outage's severity beside its duration.

A run is shorter than an alerting window: the window holds the run's traffic at its rate, good outside the run.
Definitions: docs/serving.md ("Faults and Kubernetes").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.faults.recovery import good
from stages.params.resilience import SreParams
from stages.records.resilience import RunRecovery, SreFigures


def worst_window_bad(scheduled_s: np.ndarray, bad: np.ndarray, window_s: float) -> int:
    """The most bad requests scheduled within any ``window_s`` of the schedule (every window starting at a bad
    request: the worst one starts at one)."""
    order = np.argsort(scheduled_s)
    times, flags = scheduled_s[order], bad[order].astype(int)
    cumulative = np.concatenate([[0], np.cumsum(flags)])
    ends = np.searchsorted(times, times + window_s, side="left")
    return int(max((cumulative[ends] - cumulative[np.arange(len(times))])[flags == 1], default=0))


def burn_rate(measured: pd.DataFrame, is_bad: np.ndarray, window_s: float, objective: float) -> float:
    """The bad share in the worst ``window_s`` of schedule, the window holding the run's rate of traffic (good
    outside the run when the window is longer), over the error budget."""
    scheduled = measured["scheduled_s"].to_numpy(float)
    span = float(np.ptp(scheduled)) if len(scheduled) > 1 else 0.0
    rate = (len(scheduled) - 1) / span if span > 0 else 1.0
    return worst_window_bad(scheduled, is_bad, window_s) / max(rate * window_s, 1.0) / (1.0 - objective)


def sre_figures(records: pd.DataFrame, recovery: RunRecovery, fault_s: float, fault_end_s: float, slo_ms: float,
                timeout_s: float, settings: SreParams) -> SreFigures:
    measured = records[~records["warmup"].astype(bool)].sort_values("scheduled_s")
    is_good = good(measured, slo_ms).to_numpy(bool)
    scheduled = measured["scheduled_s"].to_numpy(float)
    after = {}
    for window in settings.after_fault_s:
        inside = (scheduled >= fault_s) & (scheduled < fault_s + window)
        after[f"{window:g}"] = float(is_good[inside].mean()) if inside.any() else None
    first = (scheduled >= fault_s) & (scheduled < fault_s + settings.after_fault_s[0])
    latencies = np.where(measured["outcome"] == "ok", measured["latency_ms"], timeout_s * 1e3)[first]
    burns = {f"{window:g}": burn_rate(measured, ~is_good, window, settings.objective) for window in settings.windows_s}
    severity = None
    if recovery.outage_start_s is not None and recovery.outage_end_s is not None:
        start, end = fault_s + recovery.outage_start_s, fault_s + recovery.outage_end_s
        outage = (scheduled >= start) & (scheduled <= end)
        severity = float((~is_good[outage]).mean()) if outage.any() else None
    return SreFigures(
        availability=float(is_good.mean()) if len(is_good) else None, availability_after_fault=after,
        burn_rate=burns, would_page=all(burn >= settings.page_burn_rate for burn in burns.values()),
        p99_after_fault_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
        recovered_after_fault_end_s=(None if recovery.time_to_recovery_s is None
                                     else recovery.time_to_recovery_s - (fault_end_s - fault_s)),
        outage_severity=severity)
