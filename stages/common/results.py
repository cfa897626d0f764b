"""Typed shapes of the results files stages hand to each other and to the report.

Every JSON result is written from one of these models by :func:`stages.common.io.write_result` and read back
through :func:`stages.common.io.read_result`, so a renamed or missing key fails where the file is read, naming
the file and the key, instead of turning into a ``None`` in a table three stages later. The JSON shapes are the
ones ``dvc metrics show`` and ``dvc exp show`` read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    """Strict about unknown keys: a key the model does not know means writer and reader disagree."""

    model_config = ConfigDict(extra="forbid")


class LatencyStats(Result):
    """Percentiles, max, mean and count of latency samples in milliseconds (None when there are none)."""

    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None
    max: float | None
    mean: float | None
    count: int
    # Timed in interleaved rounds (validate): the p50's CI from the rounds' medians, their CV, and whether that
    # spread says the machine was disturbed.
    p50_ci: list[float] | None = None
    round_cv: float | None = None
    rounds: int | None = None
    disturbed: bool | None = None


# --- download -----------------------------------------------------------------------------------------------


class ModelInfo(Result):
    """Where the model in ``data/model`` came from (``model_info.json``), and what each later stage needs of it."""

    source: str  # hub | local | standin | finetune
    standin: bool
    id: str
    labels: list[str]
    # provenance that depends on the source: revision and commit (hub), size and seed (standin), base (finetune)
    revision: str | None = None
    commit: str | None = None
    size: str | None = None
    seed: int | None = None
    base: str | None = None
    trained_on: str | None = None


# --- validate -----------------------------------------------------------------------------------------------


class VariantValidation(Result):
    accuracy: float
    f1_macro: float
    f1_weighted: float
    f1_per_class: dict[str, float]
    agreement: float
    max_abs_prob_diff: float
    mean_abs_prob_diff: float
    size_mb: float
    latency_ms: dict[str, LatencyStats]  # by batch size key, e.g. "bs1"
    throughput_per_s: dict[str, float]
    passed: bool
    failed_because: list[str]


class Gate(Result):
    max_f1_drop: float
    min_agreement: float
    criteria: str


class Validation(Result):
    standin: bool
    model: str
    examples: int
    gate: Gate
    passed: list[str]
    variants: dict[str, VariantValidation]


# --- build --------------------------------------------------------------------------------------------------


class BuiltService(Result):
    bento: str
    model: str
    variant: str
    batching: dict[str, bool | int | float | None]
    workers: int
    threads: int


class Bentos(Result):
    bentoml_home: str
    cuda: bool
    standin: bool
    services: dict[str, BuiltService]


# --- limits -------------------------------------------------------------------------------------------------


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


class Limits(Result):
    standin: bool
    targets: dict[str, float]
    services: dict[str, ServiceLimits]
    speedup: dict[str, float]


# --- a load run -------------------------------------------------------------------------------------------


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


class LoadSummary(Result):
    requests: RequestCounts
    outcomes: dict[str, int]
    target_rate_per_s: float | None
    throughput_ok_per_s: float | None
    latency_ms: LatencyStats
    service_time_ms: LatencyStats
    audit: Audit
    scenario: dict[str, object] | None = None


# --- loadtest, capacity, resilience ---------------------------------------------------------------------------


class MachineState(Result):
    """What the machine did during a slot, run or capacity step, seen by the probe (stages/common/probe.py):
    the share of its busy time a hypervisor took, how late its sleeping client woke (round trip beyond the
    work), how many answers back them; and the machine-wide ``/proc/stat`` share, which the arms' demand moves."""

    readings: int
    probe_stolen: float | None = None
    wake_p50_ms: float | None = None
    wake_p99_ms: float | None = None
    machine_stolen: float | None = None


class Slot(Result):
    """One slot of a switchback block: one arm sent one segment of the schedule ``[start_s, end_s)``, then its
    requests drained before the next slot began."""

    repeat: int
    pair: int  # the segment: every arm sends it once, in a seeded order
    arm: str
    order: int  # position within the pair
    start_s: float
    end_s: float
    requests: int
    drain_s: float  # from the segment's last send to its last answer
    max_lag_ms: float | None = None  # the slot's latest send against its schedule
    started_unix: float | None = None  # wall clock: when the slot began and ended (drained)
    ended_unix: float | None = None
    machine: MachineState
    cpu_ms: list[float] | None = None  # the arm's server CPU over the slot: event loop, inference, other (ms)
    rss_mb: float | None = None  # its resident memory as the slot ended


class NeighbourRecord(Result):
    """The noisy neighbour that ran beside a load test (stages/common/neighbour.py): settings and phases."""

    hogs: int
    duty: float
    phase_s: list[float]
    seed: int
    busy_share: float  # of the phases drawn, the share of time busy


class CarryOver(Result):
    """A switchback run's first request of each slot against its other requests (stages/stats/carryover.py)."""

    slots: int
    first_p50_ms: float
    rest_p50_ms: float
    ratio: float  # first / rest medians: ~1 when nothing carries over from the slot before
    p_value: float  # Mann-Whitney, two-sided


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


class LoadtestRun(Result):
    """One run of a scenario; ``path`` is relative to the scenario's folder."""

    service: str
    repeat: int
    order: int
    path: str
    valid: bool
    reasons: list[str]
    attempt: int = 0  # 0: the block's scheduled run; k: its k-th rerun after a failed audit
    server_ready_s: float | None = None  # cold start of the run's fresh server: launch -> /readyz
    cpu_stolen: float | None = None  # share of the machine's CPU time a hypervisor took during the run
    machine: MachineState | None = None  # the probe over the run (its slots', for a switchback block)
    carryover: CarryOver | None = None  # switchback: does a slot's first request differ from the rest
    cost: ProcessCost | None = None  # CPU and memory of the arm's server over the run (its slots)


class OfferedLoad(Result):
    """The rate a load test sent, how it was stated, and where it sits against each service's capacity."""

    rate_per_s: float
    relative_to: str | None = None  # the service whose capacity the rate was stated against (None: req/s)
    fraction: float | None = None
    basis: str = "capacity"  # or "saturation" (throughput): what the fraction multiplies
    capacity_per_s: dict[str, float] = {}  # results/capacity.json at the time of the load test
    multiple_of_capacity: dict[str, float] = {}  # rate / capacity: above 1, that service is past its capacity


class LoadtestIndex(Result):
    """``results/loadtest/<scenario>/runs.json``: every run in the order it ran, with its validity."""

    scenario: str
    variants: dict[str, str]
    standin: bool
    runs: list[LoadtestRun]
    environment: dict[str, Any]  # free-form: stages/common/environment.py
    offered: OfferedLoad | None = None
    protocol: Literal["switchback", "fresh-per-run"] = "fresh-per-run"
    slot_s: float | None = None
    slots: list[Slot] = []
    neighbour: NeighbourRecord | None = None


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


class Capacity(Result):
    slo_p99_ms: float
    max_error_rate: float
    services: dict[str, ServiceCapacity]
    ratio: float | None


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


class Resilience(Result):
    target: str
    service: str
    scenario: str
    faults: dict[str, FaultSummary]
    skipped: dict[str, str] = {}  # faults this machine could not inject (kernel, privileges, no balancer), with why
    aborted: str | None = None  # cluster mode: why the experiment stopped early (the steady state did not return)
    all_requests_recorded: bool
