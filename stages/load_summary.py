"""Summary and fidelity audit of one load run, computed from its per-request records only.

Statistics exclude warm-up requests. A run is *invalid* (the generator, not the server, may have shaped the
result) when its achieved send rate strays from the schedule's rate, its send lag p99 exceeds the bound, its
realised inter-arrival times fail a KS test against the target distribution, or the generator ran out of CPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.arrivals import ArrivalSpec, ks_test
from stages.loadgen import OUTCOMES, GeneratorUsage
from stages.params import LoadgenParams

LATENCY_PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p99_9": 99.9}


def latency_stats(samples_ms: np.ndarray | list[float]) -> dict[str, float | int | None]:
    """Percentiles, max, mean and count of latency samples in milliseconds."""
    values = np.asarray(samples_ms, dtype=float)
    if len(values) == 0:
        return {name: None for name in [*LATENCY_PERCENTILES, "max", "mean"]} | {"count": 0}
    result = {name: float(np.percentile(values, q)) for name, q in LATENCY_PERCENTILES.items()}
    return result | {"max": float(values.max()), "mean": float(values.mean()), "count": len(values)}


def achieved_rate(times_s: np.ndarray) -> float | None:
    """Requests per second over the span of ``times_s``: (n - 1) intervals between first and last."""
    times = np.sort(times_s[np.isfinite(times_s)])
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


def audit(measured: pd.DataFrame, spec: ArrivalSpec, bounds: LoadgenParams, usage: GeneratorUsage,
          open_loop: bool) -> dict:
    """Fidelity checks of the generator over the measured (non-warm-up) requests."""
    sent = measured["sent_s"].to_numpy()
    schedule_rate = achieved_rate(measured["scheduled_s"].to_numpy())
    send_rate = achieved_rate(sent)
    lag = measured["lag_ms"].dropna().to_numpy()
    lag_p99 = float(np.percentile(lag, 99)) if len(lag) else None
    realised_gaps = np.diff(np.sort(sent[np.isfinite(sent)]))
    ks = ks_test(realised_gaps, spec) if open_loop else None
    reasons = []
    rate_error = None
    if open_loop and schedule_rate and send_rate:
        rate_error = abs(send_rate / schedule_rate - 1.0)
        if rate_error > bounds.rate_tolerance:
            reasons.append(f"achieved rate {send_rate:.2f}/s is {rate_error:.1%} off the schedule's "
                           f"{schedule_rate:.2f}/s (tolerance {bounds.rate_tolerance:.0%})")
    if open_loop and lag_p99 is not None and lag_p99 > bounds.lag_p99_bound_ms:
        reasons.append(f"send lag p99 {lag_p99:.2f} ms > bound {bounds.lag_p99_bound_ms} ms")
    if ks is not None and ks["pvalue"] < bounds.ks_alpha:
        reasons.append(f"KS test rejects the target inter-arrival distribution (p = {ks['pvalue']:.2g})")
    if usage.busy > bounds.max_generator_cpu:
        reasons.append(f"generator busy CPU {usage.busy:.0%} of a core > {bounds.max_generator_cpu:.0%}")
    return {
        "valid": not reasons,
        "reasons": reasons,
        "schedule_rate_per_s": schedule_rate,
        "achieved_rate_per_s": send_rate,
        "rate_error": rate_error,
        "lag_ms": {"p50": float(np.percentile(lag, 50)) if len(lag) else None, "p99": lag_p99,
                   "max": float(lag.max()) if len(lag) else None},
        "ks_realised_gaps": ks,
        "generator_cpu": {"total": usage.cpu, "deadline_spin": usage.spin, "busy": usage.busy},
    }


def summarize(records: pd.DataFrame, spec: ArrivalSpec, bounds: LoadgenParams, usage: GeneratorUsage,
              open_loop: bool = True) -> dict:
    """Counts by outcome, rates, throughput, latency percentiles and the fidelity audit of one run."""
    measured = records[~records["warmup"]]
    counts = measured["outcome"].value_counts().reindex(OUTCOMES, fill_value=0)
    ok = measured[measured["outcome"] == "ok"]
    window = measured["done_s"].max() - measured["scheduled_s"].min() if len(measured) else np.nan
    return {
        "requests": {"scheduled": len(records), "warmup": int(records["warmup"].sum()), "measured": len(measured)},
        "outcomes": {name: int(count) for name, count in counts.items()},
        "target_rate_per_s": spec.rate if spec.process != "trace" else None,
        "throughput_ok_per_s": float(len(ok) / window) if window and window > 0 else None,
        "latency_ms": latency_stats(ok["latency_ms"].to_numpy()),
        "service_time_ms": latency_stats(ok["service_ms"].to_numpy()),
        "audit": audit(measured, spec, bounds, usage, open_loop),
    }
