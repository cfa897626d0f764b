"""The ``resilience`` section: faults under load, locally or on a cluster, and what counts as recovered."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PositiveFloat, model_validator

from stages.params.base import PositiveInt, Section
from stages.params.loadgen import LoadgenParams
from stages.params.loadtest import LoadtestParams, check_relative_rates

LocalFault = Literal["kill-worker", "kill-server", "stop-start", "freeze", "cpu-throttle", "cpu-stress",
                     "memory-limit", "network-delay", "packet-loss", "partition"]


ClusterDisruption = Literal["delete-pod", "evict-pod", "delete-replicaset", "rollout-restart", "drain-node",
                            "restart-k3s", "kill-containerd"]


NODE_DISRUPTIONS = ("drain-node", "restart-k3s", "kill-containerd")  # the node itself: every pod on it, not one


def _ordered_span(span: list[float]) -> list[float]:
    if span[0] >= span[1]:
        raise ValueError(f"must be [start, end] with start < end, got {list(span)}")
    return span


class MultiWorkerParams(Section):
    """Extra fault runs with ``workers`` server workers (none when ``faults`` is empty)."""

    workers: Annotated[int, Field(ge=2, le=64)] = 2
    faults: list[LocalFault] = ["kill-worker"]


class NearCapacityParams(Section):
    """Faults again at a second load near the served arm's capacity (a scenario whose rate is stated relative to
    it, resolved from ``results/capacity.json``), where the queue a fault builds drains slowly. None when
    ``faults`` is empty."""

    scenario: str = "resilience-near-capacity"  # a name under loadgen.scenarios
    faults: list[LocalFault] = ["kill-server", "freeze", "cpu-stress", "network-delay"]


def _replica_faults(faults: list[str]) -> list[str]:
    shared = sorted(set(faults) & {"cpu-stress"})
    if shared:
        raise ValueError(f"{shared} strike the whole machine, not one replica: no failover to measure")
    return faults


class FailoverParams(Section):
    """Failover under live load: ``replicas`` servers of the arm behind HAProxy (stages/faults/balancer.py), one
    of them disrupted; the balancer's health checks of /readyz take it out and bring it back. None when
    ``faults`` is empty."""

    replicas: Annotated[int, Field(ge=2, le=8)] = 2
    faults: Annotated[list[LocalFault], AfterValidator(_replica_faults)] = ["kill-server", "freeze", "partition"]
    check_interval_ms: Annotated[int, Field(ge=50, le=60_000)] = 500  # a health check of every replica this often
    fall: Annotated[int, Field(ge=1, le=10)] = 2  # failed checks in a row that take a replica out
    rise: Annotated[int, Field(ge=1, le=10)] = 2  # passed checks in a row that bring it back
    retries: Annotated[int, Field(ge=0, le=5)] = 2  # a failed try is sent again, to another replica
    # What a retry answers: a refused connection, a connection closed with no answer (a killed replica's
    # in-flight requests), no answer within server_timeout_s (a frozen or partitioned one). A classification is
    # idempotent, so retrying its POST is safe.
    retry_on: Annotated[list[Literal["conn-failure", "empty-response", "response-timeout", "503"]],
                        Field(min_length=1)] = ["conn-failure", "empty-response", "response-timeout"]
    # Under resilience.slo_ms, so that a request retried after it can still be good (at 2 s, every request caught
    # by a frozen replica was good-but-late: 94.5 % availability against 99.3 % for a killed one).
    server_timeout_s: PositiveFloat = 0.8


class ClusterParams(Section):
    """Where cluster-mode disruptions go: only this kubectl context and namespace, never another."""

    context: str | None = None
    # The cluster itself, pinned when you opt in: the UID of its kube-system namespace (kubectl --context <context>
    # get namespace kube-system -o jsonpath='{.metadata.uid}'). A context renamed or repointed to another cluster
    # is refused before every change.
    cluster_uid: str | None = None
    namespace: Annotated[str, Field(min_length=1)] = "servebench"
    deployment: Annotated[str, Field(min_length=1)] = "servebench-optimized"
    url: str | None = None  # the Service as the generator reaches it: http://<its ClusterIP>:3000 from the node
    disruptions: list[ClusterDisruption] = ["delete-pod", "evict-pod", "rollout-restart", "delete-replicaset"]
    node_faults: bool = False  # allow drain-node, restart-k3s, kill-containerd (a dedicated node, this machine)
    replicas: Annotated[list[PositiveInt], Field(min_length=1)] = [1, 2]
    health_timeout_s: PositiveInt = 300  # all replicas ready again between disruptions, else the experiment stops
    # During a run: max_recovery_s after the disruption, more than abort_error_rate of the requests of the last
    # abort_window_s bad (failed or slower than slo_ms) stops the load and the experiment (results so far kept).
    abort_error_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    abort_window_s: PositiveFloat = 5.0

    @model_validator(mode="after")
    def _node_faults_opted_in(self) -> ClusterParams:
        asked = [name for name in self.disruptions if name in NODE_DISRUPTIONS]
        if asked and not self.node_faults:
            raise ValueError(f"disruptions {asked} act on the whole node: set resilience.cluster.node_faults: "
                             "true to allow them")
        return self


class SreParams(Section):
    """What an SRE team pages on (stages/faults/sre.py): the availability objective of good requests, the two
    alerting windows whose burn rates must both reach page_burn_rate to page, the windows after the fault."""

    objective: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.999
    windows_s: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)] = [300.0, 3600.0]
    page_burn_rate: PositiveFloat = 14.4  # the SRE workbook's 1 h / 5 min page: 2 % of a 30-day budget in 1 h
    after_fault_s: Annotated[list[PositiveFloat], Field(min_length=1)] = [5.0, 10.0]


class ResilienceParams(Section):
    """Faults under load: what is disrupted, when, and what counts as recovered."""

    target: Literal["local", "cluster"] = "local"
    service: Literal["baseline", "optimized"] = "optimized"
    scenario: str = "resilience"  # a name under loadgen.scenarios
    faults: Annotated[list[LocalFault], Field(min_length=1)] = [
        "kill-worker", "kill-server", "stop-start", "freeze", "cpu-throttle", "cpu-stress", "memory-limit",
        "network-delay", "packet-loss", "partition"]
    repeats: Annotated[int, Field(ge=1, le=20)] = 6  # runs per fault (6: [min, max] holds the median with 97 %)
    seed: int = 0  # which busy instants of the schedule the faults strike
    # Faults strike at seeded instants within this span of the run (seconds), chosen among busy ones.
    fault_window_s: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2),
                              AfterValidator(_ordered_span)] = [6.0, 9.0]
    # Served workers in every fault run (null: as built), and extra runs with more workers, where a worker kill
    # is a partial failure.
    workers: Annotated[int, Field(ge=1, le=64)] | None = None
    multi_worker: MultiWorkerParams = MultiWorkerParams()
    near_capacity: NearCapacityParams = NearCapacityParams()
    failover: FailoverParams = FailoverParams()
    restart_delay_s: Annotated[float, Field(ge=0.0)] = 1.0  # local supervisor, as restartPolicy: Always
    freeze_s: Annotated[float, Field(gt=0.0)] = 5.0  # freeze: SIGSTOP ... SIGCONT of every server process
    throttle_s: Annotated[float, Field(gt=0.0)] = 5.0  # cpu-throttle: this long under a CFS quota of
    throttle_cpus: Annotated[float, Field(gt=0.0, le=64.0)] = 0.1  # this many cores for the whole server
    stress_s: Annotated[float, Field(gt=0.0)] = 5.0  # cpu-stress: a co-tenant (#40's neighbour) busy this long
    stress_hogs: Annotated[int, Field(ge=1, le=64)] = 2  # with this many CPU hogs competing for the cores
    memory_s: Annotated[float, Field(gt=0.0)] = 5.0  # memory-limit: the workers this long in a memory cgroup
    memory_limit_kib: PositiveInt = 64  # allowing this many KiB of new allocations (then OOM kills)
    network_s: Annotated[float, Field(gt=0.0)] = 5.0  # network-delay, packet-loss and partition last this long
    delay_ms: Annotated[float, Field(gt=0.0)] = 1500.0  # network-delay: added to every chunk, each way
    loss_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.3  # packet-loss: share of chunks lost (each try) and
    retransmit_ms: Annotated[float, Field(gt=0.0)] = 200.0  # resent after this, doubling per loss (TCP_RTO_MIN)
    slo_ms: Annotated[float, Field(gt=0.0)] = 1000.0  # a good request: ok within this (capacity's SLO)
    healthy_s: Annotated[float, Field(gt=0.0)] = 3.0  # recovered: good requests only for this long
    max_recovery_s: Annotated[float, Field(gt=0.0)] = 10.0  # verdict "recovered" within this, else "not recovered"
    max_reruns: Annotated[int, Field(ge=0, le=5)] = 1  # a run failing the generator's audit is rerun (same draw)
    sre: SreParams = SreParams()
    cluster: ClusterParams = ClusterParams()


def resilience_scenarios(resilience: ResilienceParams) -> dict[str, str]:
    """The scenarios the resilience stage sends, by the key naming each (files without a resilience section stay
    valid: its default scenario names are then not required)."""
    named = {"resilience.scenario": resilience.scenario} if "scenario" in resilience.model_fields_set else {}
    configured = bool(named) or "near_capacity" in resilience.model_fields_set
    if configured and resilience.target == "local" and resilience.near_capacity.faults:
        named["resilience.near_capacity.scenario"] = resilience.near_capacity.scenario
    return named


def check_resilience(resilience: ResilienceParams, loadgen: LoadgenParams, loadtest: LoadtestParams) -> None:
    """The scenarios a fault run sends exist, their relative rates name a measured service, and each run lasts
    long enough after its latest fault to tell "not recovered" from "not observed long enough"
    (``max_recovery_s + healthy_s`` of schedule)."""
    named = resilience_scenarios(resilience)
    for key, name in named.items():
        if name not in loadgen.scenarios:
            raise ValueError(f"{key} = {name!r}: must be a name under loadgen.scenarios "
                             f"({sorted(loadgen.scenarios)})"
                             + (", or set resilience.near_capacity.faults: []" if "near" in key else ""))
    check_relative_rates(list(named.values()), loadgen, loadtest)
    if resilience.target != "local":
        return
    needed = resilience.max_recovery_s + resilience.healthy_s
    latest = resilience.fault_window_s[1]
    for name in named.values():
        duration = loadgen.scenarios[name].duration_s
        if duration is not None and duration - latest < needed:
            raise ValueError(f"loadgen.scenarios.{name}.duration_s = {duration:g}: leaves {duration - latest:g} s "
                             f"after the latest fault (resilience.fault_window_s ends at {latest:g} s), less than "
                             f"resilience.max_recovery_s + healthy_s = {needed:g} s; lengthen the scenario or "
                             "shorten those")
