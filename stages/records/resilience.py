"""``results/resilience.json``: faults under load, run by run and summarised per fault."""

from __future__ import annotations

from stages.records.base import RecordFile, Result
from stages.records.load import OfferedLoad


class ErrorWindow(Result):
    first: float
    last: float
    length: float


class InFlight(Result):
    count: int
    outcomes: dict[str, int]


class SteadyBefore(Result):
    """The steady-state hypothesis on the requests answered before the fault."""

    requests: int
    breaches: int
    held: bool


class RunRecovery(Result):
    """What a fault did to one run's requests, from its records alone (definitions: :mod:`stages.faults.recovery`);
    times in seconds of the run's clock, ``*_s`` durations from the fault."""

    scheduled: int
    recorded: int
    measured: int
    failed: int
    failed_by_outcome: dict[str, int]
    error_window_s: ErrorWindow | None
    p99_before_ms: float | None  # requests completed before the fault
    latency_bound_ms: float  # the steady-state hypothesis: every request ok within this (resilience.slo_ms)
    steady_state_before: SteadyBefore
    breaches: int  # affected requests that failed or answered beyond the bound
    observed_after_s: float  # schedule observed after the fault
    outage_start_s: float | None  # first failure or breach after the fault
    outage_s: float | None  # first breach -> end of the last breach before the recovery
    time_to_first_success_s: float | None  # first ok response of a request scheduled in the outage
    time_to_recovery_s: float | None  # fault -> start of the first healthy period of resilience.healthy_s
    relapses: int  # breaches after the recovery
    verdict: str  # held | recovered (within resilience.max_recovery_s) | not observed long enough | not recovered
    in_flight_at_fault: InFlight

    @property
    def outage_end_s(self) -> float | None:
        if self.outage_s is None or self.outage_start_s is None:
            return None
        return self.outage_start_s + self.outage_s


class SreFigures(Result):
    """One fault run in an SRE's terms (stages/faults/sre.py); windows keyed by their seconds."""

    availability: float | None  # good / measured requests over the run
    availability_after_fault: dict[str, float | None]  # ... of those scheduled in [fault, fault + window)
    burn_rate: dict[str, float]  # the worst window's bad share over the error budget, per alerting window
    would_page: bool  # every alerting window burnt at resilience.sre.page_burn_rate or more
    p99_after_fault_ms: float | None  # of the requests in the first after-fault window, failures at the timeout
    recovered_after_fault_end_s: float | None  # recovery less the fault's duration
    outage_severity: float | None  # bad share of the requests scheduled in the outage


class FaultRecovery(RunRecovery):
    """One faulted run: its recovery, the fault's own times and actions, the generator's audit."""

    fault_at_s: float
    fault_end_s: float
    actions: list[str]
    generator_audit_valid: bool
    generator_audit_reasons: list[str]
    timeline: str
    cpu_stolen: float | None = None  # share of the machine's CPU time a hypervisor took during the run
    attempt: int = 0  # 0: the repeat's first run; k: its k-th rerun after a failed audit (same schedule, instant)
    sre: SreFigures | None = None


class Spread(Result):
    """Median and range over the repeats that had the figure (n; None: none had it, e.g. nothing failed), and how
    sure [low, high] is to hold the true median: 1 - 2 / 2^n (n = 3: 75 %, n = 6: 97 %)."""

    n: int
    median: float | None
    low: float | None
    high: float | None
    confidence: float | None = None


class FaultSummary(Result):
    """One fault (at one worker count, load and replica count) over its repeats, each at its own seeded instant."""

    workers: int | None  # served workers (None: as built)
    fault: str | None = None  # what was injected (the key adds the workers, load or replicas it ran with)
    replicas: int = 1  # more: that many servers behind a balancer, one of them disrupted (failover)
    scenario: str | None = None  # the load (a name under loadgen.scenarios; None: resilience.scenario)
    load: OfferedLoad | None = None  # its rate, and where it sat against each measured capacity
    repeats: int
    steady_before: int  # repeats whose service held the steady state before the fault: the figures come from these
    failed: Spread
    outage_s: Spread
    time_to_first_success_s: Spread
    time_to_recovery_s: Spread
    verdict: str  # the worst repeat's: held < recovered < not recovered
    verdicts: list[str]
    recorded_equals_scheduled: bool
    runs: list[FaultRecovery]
    audit_failed: int = 0  # runs that failed the generator's audit: rerun, and left out of every figure
    availability: Spread | None = None
    availability_after_fault: dict[str, Spread] = {}
    burn_rate: dict[str, Spread] = {}
    would_page: int | None = None  # repeats whose every alerting window burnt at the page rate
    p99_after_fault_ms: Spread | None = None
    recovered_after_fault_end_s: Spread | None = None
    outage_severity: Spread | None = None


class Resilience(RecordFile):
    target: str
    service: str
    scenario: str
    faults: dict[str, FaultSummary]
    skipped: dict[str, str] = {}  # faults this machine could not inject (kernel, privileges, no balancer), with why
    aborted: str | None = None  # cluster mode: why the experiment stopped early (the steady state did not return)
    all_requests_recorded: bool
