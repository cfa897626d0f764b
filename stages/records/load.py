"""One load run: what the generator sent and its audit, the offered load, the server's cost."""

from __future__ import annotations

from stages.records.base import LatencyStats, RecordFile, Result


class RequestCounts(Result):
    scheduled: int
    warmup: int
    measured: int


class LagStats(Result):
    p50: float | None
    p99: float | None
    max: float | None


class GapFit(Result):
    """Kolmogorov-Smirnov distance between gaps and a reference, with its sample size; the p-value where one
    means something (the schedule against its target distribution, not realised against scheduled gaps)."""

    statistic: float
    pvalue: float | None
    n: int


class GeneratorCpu(Result):
    """Process CPU time over wall time (1.0 = one core busy); the part spent idling in the event loop's wait; the
    machine's CPU time stolen by a hypervisor over the run (``stages/common/cpu_steal.py``; None: not measured)."""

    cpu: float
    idle_wait: float | None
    stolen: float | None = None


class Audit(Result):
    valid: bool
    reasons: list[str]
    schedule_rate_per_s: float | None
    achieved_rate_per_s: float | None
    rate_error: float | None
    lag_ms: LagStats
    schedule_fit: GapFit | None
    realised_gap_fit: GapFit | None
    generator_cpu: GeneratorCpu
    lag_bound_ms: float
    lag_quantile: float | None = None  # the send-lag percentile judged (the highest the run's sends back)
    lag_audited_ms: float | None = None  # the send lag at that percentile


class LoadSummary(RecordFile):
    requests: RequestCounts
    outcomes: dict[str, int]
    target_rate_per_s: float | None
    throughput_ok_per_s: float | None
    latency_ms: LatencyStats
    service_time_ms: LatencyStats
    audit: Audit
    scenario: dict[str, object] | None = None


class ProcessCost(Result):
    """What an arm's run cost: CPU time of its server's process tree per request served (ms; user + system, which
    steal and a neighbour's share are not in), split into the event loop, inference and the tree's other
    processes; its resident memory's peak and median over the run's readings and its PSS at the end; and the load
    generator's own CPU per request (for a switchback block, the block's, shared by its arms)."""

    requests: int
    cpu_ms_per_request: float | None = None
    loop_ms_per_request: float | None = None
    inference_ms_per_request: float | None = None
    other_ms_per_request: float | None = None
    peak_rss_mb: float | None = None
    steady_rss_mb: float | None = None
    pss_mb: float | None = None
    generator_ms_per_request: float | None = None


class OfferedLoad(Result):
    """The rate a load test sent, how it was stated, and where it sits against each service's capacity."""

    rate_per_s: float
    relative_to: str | None = None  # the service whose capacity the rate was stated against (None: req/s)
    fraction: float | None = None
    basis: str = "capacity"  # or "saturation" (throughput): what the fraction multiplies
    capacity_per_s: dict[str, float] = {}  # results/capacity.json at the time of the load test
    multiple_of_capacity: dict[str, float] = {}  # rate / capacity: above 1, that service is past its capacity
    requests_per_run: int | None = None  # as each run's schedule held them (None: sized by duration)
    cut_from: int | None = None  # the stated requests per run, where the load test's budget cut them


class ServerMetrics(RecordFile):
    """``server_metrics.json`` of a load-test run: what the server's Prometheus counters, histogram counts and
    sums gained over the run (gauges: their last value), by series name."""

    deltas: dict[str, float]
