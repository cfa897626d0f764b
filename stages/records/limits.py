"""``results/limits.json``: served latency at low load and throughput at saturation."""

from __future__ import annotations

from stages.records.base import LatencyStats, RecordFile, Result


class RawLimit(Result):
    bs1_latency_ms: LatencyStats
    batch_size: int
    batch_latency_ms: LatencyStats
    batch_throughput_per_s: float


class RampStep(Result):
    """One step of the concurrency ramp that finds the saturation point: served, shed (503), other failures."""

    concurrency: int
    ok: int
    shed: int
    errors: int
    seconds: float
    throughput_per_s: float  # served (ok) per second


class Saturation(Result):
    concurrency: int  # the ramp's highest step within limits.max_shed_share
    seconds: float
    ok: int
    shed: int = 0  # 503s: requests the server refused
    errors: int  # other failures
    throughput_per_s: float  # served (ok) per second
    latency_ms: LatencyStats
    # CPU of the server's event loop (workers' main threads) and of the load generator, per request the server
    # handled (served, shed or failed: the loop did work for each) and per served request
    event_loop_cpu_ms_per_request: float | None = None
    generator_cpu_ms_per_request: float | None = None
    event_loop_cpu_ms_per_served: float | None = None
    generator_cpu_ms_per_served: float | None = None
    ramp: list[RampStep] = []


class ServedLimits(Result):
    low_load_latency_ms: LatencyStats
    saturation: Saturation
    low_load_after_saturation_latency_ms: LatencyStats
    # saturation's end -> the first of 5 single requests in a row within 2x the low-load p50 (None: never)
    after_saturation_back_s: float | None = None


class LimitsRound(Result):
    overhead_ms: float
    raw_batch_throughput_per_s: float
    saturation_throughput_per_s: float
    saturation_errors: int  # shed and other failures
    saturation_seconds: float


class ServiceLimits(Result):
    variant: str
    cold_start_s: float | None = None  # `bentoml serve` launched -> first 200 of /readyz
    start_breakdown_s: dict[str, float] | None = None  # where the cold start went (stages/serving/startup.py)
    batching: dict[str, bool | int | float | None]
    raw: RawLimit
    served: ServedLimits
    rounds: list[LimitsRound]
    overhead_ms: float
    saturation_efficiency: float
    # the efficiency the CPU left to inference allows: inference / (inference + event loop + generator) per request
    cpu_share_bound: float | None = None
    meets_overhead_target: bool
    meets_efficiency_target: bool


class Limits(RecordFile):
    standin: bool
    targets: dict[str, float]
    services: dict[str, ServiceLimits]
    speedup: dict[str, float]
