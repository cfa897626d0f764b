"""Summary and fidelity audit of one load run, computed from its per-request records only.

Statistics exclude warm-up requests. The audit answers one question: was the traffic what the schedule said?
A run is *invalid* (the generator, not the server, may have shaped the result) when its achieved send rate
strays from the schedule's, its send lag is too large (against a bound set by the arrival process, and a stall
bound on the largest), its realised inter-arrival gaps are too far (KS distance) from the scheduled ones, or the
drawn schedule itself fails a KS test against the target distribution (a sampler bug).

Every bound is about the generator alone: none moves with the measured service's speed, so an exclusion cannot
depend on which arm was served, and the lag is judged at the highest percentile the run's sends back (MLPerf
LoadGen's rule): with ~120 sends that is p95, not a p99 that is the second-largest send.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.common.percentiles import latency_stats, min_requests
from stages.loadgen.arrivals import ArrivalSpec, realised_fit, schedule_fit
from stages.loadgen.client import OUTCOMES, GeneratorUsage
from stages.params.loadgen import LoadgenParams
from stages.records.load import Audit, GeneratorCpu, LagStats, LoadSummary, RequestCounts


def achieved_rate(times_s: np.ndarray) -> float | None:
    """Requests per second over the span of ``times_s``: (n - 1) intervals between first and last."""
    times = np.sort(times_s[np.isfinite(times_s)])
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


LAG_QUANTILES = (0.99, 0.95, 0.90, 0.50)  # the audited send-lag percentile: the highest the sends back


def audited_lag_quantile(sends: int, confidence: float) -> float:
    """The highest of :data:`LAG_QUANTILES` that ``sends`` back at ``confidence`` (p99 needs 459 at 0.99)."""
    backed = [q for q in LAG_QUANTILES if sends >= min_requests(q, confidence)]
    return backed[0] if backed else LAG_QUANTILES[-1]


def lag_bound_ms(bounds: LoadgenParams, mean_gap_ms: float | None) -> float:
    """The larger of the absolute lag bound and a share of the schedule's mean gap: a send late by a small part
    of the time between arrivals leaves the arrival process the server sees as it was drawn."""
    relative = bounds.lag_gap_share * mean_gap_ms if mean_gap_ms else 0.0
    return max(bounds.lag_bound_ms, relative)


def gap_distance_bound(bounds: LoadgenParams, gaps: int) -> float:
    """The KS distance allowed between realised and scheduled gaps: the param, but never less than three gaps'
    worth (3/n), so that in a short run two gaps nudged across a resolution step do not condemn it."""
    return max(bounds.max_gap_ks_distance, 3.0 / max(gaps, 1))


def audit(scheduled: np.ndarray, sent: np.ndarray, lag: np.ndarray, spec: ArrivalSpec, bounds: LoadgenParams,
          usage: GeneratorUsage, open_loop: bool) -> Audit:
    """Fidelity checks of the generator over the measured (non-warm-up) requests' scheduled and send times (s)
    and send lags (ms; NaN where the request was never sent)."""
    schedule_rate, send_rate = achieved_rate(scheduled), achieved_rate(sent)
    lag = lag[~np.isnan(lag)]
    lag_p50, lag_p99 = np.percentile(lag, [50, 99]) if len(lag) else (None, None)
    lag_stats = LagStats(p50=None if lag_p50 is None else float(lag_p50),
                         p99=None if lag_p99 is None else float(lag_p99), max=float(lag.max()) if len(lag) else None)
    scheduled_gaps = np.diff(np.sort(scheduled[np.isfinite(scheduled)]))
    sampler = schedule_fit(scheduled_gaps, spec) if open_loop else None
    bound = lag_bound_ms(bounds, 1e3 / schedule_rate if schedule_rate else None)
    quantile = audited_lag_quantile(len(lag), bounds.lag_confidence)
    lag_audited = float(np.quantile(lag, quantile)) if len(lag) else None
    realised = (realised_fit(np.diff(np.sort(sent[np.isfinite(sent)])), scheduled_gaps, bounds.gap_resolution_ms / 1e3)
                if open_loop else None)
    reasons = []
    rate_error = None
    if open_loop and schedule_rate and send_rate:
        rate_error = abs(send_rate / schedule_rate - 1.0)
        if rate_error > bounds.rate_tolerance:
            reasons.append(f"achieved rate {send_rate:.2f}/s is {rate_error:.1%} off the schedule's "
                           f"{schedule_rate:.2f}/s (tolerance {bounds.rate_tolerance:.0%})")
    if open_loop and lag_audited is not None and lag_audited > bound:
        reasons.append(f"send lag p{quantile * 100:g} {lag_audited:.2f} ms > bound {bound:.2f} ms")
    if open_loop and lag_stats.max is not None and lag_stats.max > bounds.lag_max_bound_ms:
        reasons.append(f"send lag max {lag_stats.max:.1f} ms > bound {bounds.lag_max_bound_ms} ms (generator stalled)")
    gap_bound = gap_distance_bound(bounds, realised.n) if realised is not None else None
    if realised is not None and gap_bound is not None and realised.statistic > gap_bound:
        reasons.append(f"realised inter-arrival gaps are {realised.statistic:.3f} (KS distance, shifts up "
                       f"to {bounds.gap_resolution_ms} ms forgiven) from the scheduled ones > bound {gap_bound:.3f}")
    if sampler is not None and sampler.pvalue is not None and sampler.pvalue < bounds.sampler_alpha:
        reasons.append(f"the drawn schedule does not follow the target {spec.process} distribution "
                       f"(KS p = {sampler.pvalue:.2g} < {bounds.sampler_alpha})")
    return Audit(valid=not reasons, reasons=reasons, schedule_rate_per_s=schedule_rate, achieved_rate_per_s=send_rate,
                 rate_error=rate_error, lag_ms=lag_stats, schedule_fit=sampler, realised_gap_fit=realised,
                 generator_cpu=GeneratorCpu(cpu=usage.cpu, idle_wait=usage.idle_wait, stolen=usage.stolen),
                 lag_bound_ms=bound, lag_quantile=quantile, lag_audited_ms=lag_audited)


def summarize(records: pd.DataFrame, spec: ArrivalSpec, bounds: LoadgenParams, usage: GeneratorUsage,
              open_loop: bool = True) -> LoadSummary:
    """Counts by outcome, rates, throughput, latency percentiles and the fidelity audit of one run. On the
    columns' arrays: the calibration summarises tens of thousands of synthetic runs through this function."""
    warmup = records["warmup"].to_numpy(bool)
    measured = ~warmup
    codes = pd.Categorical(records["outcome"], categories=OUTCOMES).codes[measured]
    counts = np.bincount(codes[codes >= 0], minlength=len(OUTCOMES))
    ok = codes == OUTCOMES.index("ok")
    scheduled, done = (records[column].to_numpy(float)[measured] for column in ("scheduled_s", "done_s"))
    window = np.nanmax(done) - scheduled.min() if np.isfinite(done).any() else np.nan
    verdict = audit(scheduled, records["sent_s"].to_numpy(float)[measured], records["lag_ms"].to_numpy(float)[measured],
                    spec, bounds, usage, open_loop)
    lost = int(counts[OUTCOMES.index("lost")])
    if lost:  # a generator that died took the fate of its requests with it: the run cannot stand
        why = records.loc[records["outcome"] == "lost", "error"].iloc[0]
        verdict = verdict.model_copy(update={"valid": False, "reasons": [
            *verdict.reasons, f"{lost} measured requests lost with their generator ({why})"]})
    return LoadSummary(
        requests=RequestCounts(scheduled=len(records), warmup=int(warmup.sum()), measured=int(measured.sum())),
        outcomes={name: int(count) for name, count in zip(OUTCOMES, counts, strict=True)},
        target_rate_per_s=spec.rate if spec.process != "trace" else None,
        throughput_ok_per_s=float(ok.sum() / window) if window and window > 0 else None,
        latency_ms=latency_stats(records["latency_ms"].to_numpy(float)[measured][ok]),
        service_time_ms=latency_stats(records["service_ms"].to_numpy(float)[measured][ok]),
        audit=verdict,
    )
