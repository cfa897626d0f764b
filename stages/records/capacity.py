"""``results/capacity.json``: each service's capacity under the p99 objective, step by step."""

from __future__ import annotations

from stages.records.base import RecordFile, Result
from stages.records.machine import MachineState


class CapacityStep(Result):
    rate: float  # the schedule's nominal rate (the search's variable)
    offered_per_s: float | None = None  # the rate the seeded schedule realised over its measured requests
    measured: int
    failed: int
    error_rate: float
    p99_ms: float | None  # failed requests (shed 503s included) censored above every served latency
    p50_ms: float | None
    goodput_per_s: float | None = None  # ok within the objective's latency bound, per second of the schedule
    passed: bool
    p99_claim: bool  # at least 459 measured requests planned: a p99 claim at 99 % confidence
    unsent: int = 0  # measured requests not sent: the failure was certain before (``measured`` counts the sent)
    cpu_stolen: float | None = None  # share of the machine's CPU time a hypervisor took during the step
    machine: MachineState | None = None  # the probe over the step: the state the capacity was measured in


class ServiceCapacity(Result):
    variant: str
    saturation_per_s: float | None = None  # served saturation throughput (limits stage): rates can be stated on it
    start_rate: float  # the search's first step (capacity.start_rate, or the saturation throughput from limits)
    capacity_per_s: float | None  # the highest passing step's offered rate; None: even the lowest rate failed
    claim_holds: bool = False  # that step measured >= 459 requests: a p99 claim, not a bracket below the rule
    bracket: list[float | None]  # nominal rates: [highest pass, lowest fail above it]
    steps: list[CapacityStep]
    short_steps: int


class Capacity(RecordFile):
    slo_p99_ms: float
    max_error_rate: float
    services: dict[str, ServiceCapacity]
    ratio: float | None
