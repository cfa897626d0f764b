"""Faults under load on a real tiny-stand-in server, the rendered K3s manifests, and the cluster disruptor."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
from helpers import system_tool_or_skip, write_params

from stages.common.artifacts import CLASSIFY, WORKERS_ENV
from stages.common.errors import ServebenchError
from stages.experiment.resilience import FaultSeries, fault_target, local_plan, replicas_served, summarize_fault
from stages.faults.balancer import haproxy_config, replica_states
from stages.faults.balancer import missing as balancer_missing
from stages.faults.cgroups import controller as cgroup_controller
from stages.faults.local import Target, inject, unavailable, worker_pids
from stages.faults.recovery import recovery
from stages.faults.run import busy_instants, faulted_run
from stages.faults.sre import sre_figures
from stages.loadgen.run import warm_up
from stages.manifests.render import ManifestError, ServedImage, render, supported_versions, validate
from stages.manifests.sizing import (
    loadtest_fit,
    millicores,
    quantity_bytes,
    require_fit,
    require_loadtest_fit,
    rollout_fit,
)
from stages.params.base import parse_params
from stages.params.file import Params
from stages.params.k3s import K3sParams
from stages.params.loadgen import ScenarioParams
from stages.params.loadtest import ClusterLoadParams
from stages.params.resilience import FailoverParams, MultiWorkerParams, NearCapacityParams, ResilienceParams, SreParams
from stages.records.load import OfferedLoad
from stages.records.resilience import FaultRecovery, FaultSummary, Resilience
from stages.reporting.failover import failover_table, loads_line
from stages.reporting.sections import sre_table
from stages.serving.server import BentoServer
from stages.stats.timeline import fault_timeline, fault_timelines

TEXTS = ["I love this phone", "worst service ever", "the train leaves at 9", "not sure how I feel"] * 10
LOAD = ScenarioParams(process="exponential", rate=10.0, duration_s=24.0, warmup_s=1.0, seed=5, timeout_s=5.0)
FAULTS = ResilienceParams(restart_delay_s=1.0, freeze_s=2.0, throttle_s=3.0, throttle_cpus=0.01)


def serve_optimized(built: dict[str, Any], log: Path) -> BentoServer:
    return BentoServer(built["bentos"]["services"]["optimized"]["bento"], built["home"], log, ready_timeout_s=120)


@pytest.mark.e2e
def test_a_killed_worker_is_respawned_and_every_request_is_accounted(built: dict[str, Any], tmp_path: Path) -> None:
    with serve_optimized(built, tmp_path / "kill.log") as server:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        before = worker_pids(server)
        run = faulted_run(f"{server.url}{CLASSIFY}", LOAD, TEXTS, 4.0,
                          partial(inject, "kill-worker", Target(server), FAULTS))
        after = worker_pids(server)
    assert before and after and not set(before) & set(after)  # BentoML's supervisor started a new worker
    assert "Exception in callback" not in (tmp_path / "kill.log").read_text()  # its 1 s checks never conflicted
    scheduled = run.records["scheduled_s"]
    last_send = scheduled[scheduled <= run.fault_s].max()  # the fault lands just after a send, not in a gap
    assert 0 < run.fault_s - last_send < min(0.05, float(scheduled.diff().median()))
    figures = recovery(run.records, run.fault_s, slo_ms=1000.0, healthy_s=3.0, max_recovery_s=15.0)
    assert figures.steady_state_before.held and figures.steady_state_before.requests > 10
    assert figures.scheduled == figures.recorded == len(run.records) > 200  # nothing lost
    assert figures.failed == sum(figures.failed_by_outcome.values())
    # The outage shows: the request in flight fails, or (when the kill beat it to the worker) it and the next ones
    # wait for the respawned worker past the 1 s objective; either way the steady state breaks, then returns.
    assert figures.verdict == "recovered" and figures.outage_start_s is not None
    assert figures.time_to_first_success_s is not None  # it came back without help
    measured = run.records[~run.records["warmup"]]
    assert (measured[measured["scheduled_s"] > measured["scheduled_s"].max() - 3]["outcome"] == "ok").all()


@pytest.mark.e2e
def test_a_freeze_shows_in_the_latency_of_requests_scheduled_during_it(built: dict[str, Any], tmp_path: Path) -> None:
    with serve_optimized(built, tmp_path / "freeze.log") as server:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        run = faulted_run(f"{server.url}{CLASSIFY}", LOAD, TEXTS, 4.0,
                          partial(inject, "freeze", Target(server), FAULTS))
    records = run.records
    during = records[(records["scheduled_s"] > run.fault_s + 0.2) & (records["scheduled_s"] < run.fault_end_s - 0.5)]
    assert len(during) >= 5 and (during["outcome"] == "ok").all()
    # Each waited until SIGCONT, counted from its own scheduled time.
    assert (during["latency_ms"] >= (run.fault_end_s - during["scheduled_s"]) * 1e3 - 50).all()
    figures = recovery(records, run.fault_s, slo_ms=1000.0, healthy_s=3.0, max_recovery_s=15.0)
    assert figures.failed == 0 and figures.verdict == "recovered"
    # The outage runs from the first request held past 1 s to the answer of the last one: about the freeze.
    assert figures.outage_s is not None and figures.time_to_recovery_s is not None
    assert 0.8 < figures.outage_s < 2.6 and figures.time_to_recovery_s >= 1.0


@pytest.mark.e2e
def test_cpu_throttling_slows_the_server_then_lets_go(built: dict[str, Any], tmp_path: Path) -> None:
    """A quota of 0.01 cores for 3 s (the tiny stand-in needs a few % of a core at 10 req/s): requests queue past
    the 1 s objective, then the service recovers; the server's processes go back to their own cgroup and the
    fault's cgroup is gone."""
    reason = unavailable("cpu-throttle")
    if reason is not None:
        pytest.skip(f"cpu-throttle unavailable: {reason}")
    controller = cgroup_controller("cpu")
    assert not isinstance(controller, str)
    with serve_optimized(built, tmp_path / "throttle.log") as server:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        assert server.process is not None
        home = controller.cgroup_of(server.process.pid)
        run = faulted_run(f"{server.url}{CLASSIFY}", LOAD, TEXTS, 4.0,
                          partial(inject, "cpu-throttle", Target(server), FAULTS))
        assert controller.cgroup_of(server.process.pid) == home
    assert not list(controller.parent().glob("servebench-throttle-*"))
    assert any("quota of 0.01 cores" in action for action in run.log.actions)
    throttled = next(action for action in run.log.actions if "throttled periods" in action)
    assert int(throttled.split("after ")[1].split()[0]) > 0, throttled
    figures = recovery(run.records, run.fault_s, slo_ms=1000.0, healthy_s=3.0, max_recovery_s=15.0)
    assert figures.verdict == "recovered" and figures.breaches > 0
    assert figures.scheduled == figures.recorded


@pytest.mark.e2e
def test_cpu_stress_runs_a_co_tenant_beside_the_server_then_stops_it(built: dict[str, Any], tmp_path: Path) -> None:
    """Two CPU hogs for 2 s beside the server: the machine's CPU time grows by most of their 4 core-seconds, the
    hogs are gone after the fault, and every request is accounted."""
    stress = FAULTS.model_copy(update={"stress_s": 2.0, "stress_hogs": 2})
    with serve_optimized(built, tmp_path / "stress.log") as server:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        before = psutil.cpu_times()
        run = faulted_run(f"{server.url}{CLASSIFY}", LOAD, TEXTS, 4.0,
                          partial(inject, "cpu-stress", Target(server), stress))
        after = psutil.cpu_times()
    assert run.log.actions[0].endswith("2 CPU hogs busy beside the server")
    assert run.log.ended is not None and run.log.started is not None
    assert run.log.actions[-1].endswith("CPU hogs stopped") and run.log.ended - run.log.started >= 2.0
    busy = (after.user + after.system) - (before.user + before.system)
    assert busy >= 0.75 * 2 * 2.0, busy
    assert not [child for child in psutil.Process().children(recursive=True) if "spawn_main" in
                " ".join(child.cmdline())]
    figures = recovery(run.records, run.fault_s, slo_ms=1000.0, healthy_s=3.0, max_recovery_s=15.0)
    assert figures.scheduled == figures.recorded


@pytest.mark.e2e
def test_a_memory_limit_below_new_allocations_oom_kills_the_worker_then_lets_it_recover(built: dict[str, Any],
                                                                                       tmp_path: Path) -> None:
    """The worker allowed 64 KiB of new allocations for 3 s under load: the kernel OOM-kills it, requests fail or
    wait past the objective, the supervisor respawns it and the service recovers; the processes are back in their
    cgroup and the fault's cgroup is gone."""
    reason = unavailable("memory-limit")
    if reason is not None:
        pytest.skip(f"memory-limit unavailable: {reason}")
    controller = cgroup_controller("memory")
    assert not isinstance(controller, str)
    limited = FAULTS.model_copy(update={"memory_limit_kib": 64, "memory_s": 3.0})
    with serve_optimized(built, tmp_path / "memory.log") as server:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        assert server.process is not None
        home, before = controller.cgroup_of(server.process.pid), worker_pids(server)
        run = faulted_run(f"{server.url}{CLASSIFY}", LOAD, TEXTS, 4.0,
                          partial(inject, "memory-limit", Target(server), limited))
        assert controller.cgroup_of(server.process.pid) == home
        assert all(controller.cgroup_of(pid) == home for pid in worker_pids(server))
        assert worker_pids(server) != before  # the OOM-killed worker was replaced
    assert not list(controller.parent().glob("servebench-memory-*"))
    kills = next(action for action in run.log.actions if "OOM kills" in action)
    assert int(kills.split("after ")[1].split()[0]) >= 1, kills
    figures = recovery(run.records, run.fault_s, slo_ms=1000.0, healthy_s=3.0, max_recovery_s=15.0)
    assert figures.verdict == "recovered" and figures.breaches > 0
    assert figures.scheduled == figures.recorded


def hand_made_run(step: float = 0.5, end: float = 10.0) -> pd.DataFrame:
    scheduled = np.arange(0.0, end, step)
    return pd.DataFrame({"scheduled_s": scheduled, "sent_s": scheduled, "done_s": scheduled + 0.1,
                         "latency_ms": 100.0, "outcome": "ok", "warmup": scheduled < 1.0})


def test_recovery_figures_on_a_hand_made_run() -> None:
    frame = hand_made_run()
    frame.loc[frame["scheduled_s"].isin([5.0, 5.5, 6.0]), "outcome"] = "connection_error"
    frame.loc[9, ["done_s", "latency_ms"]] = [6.0, 1500.0]  # sent at 4.5, in flight at the fault, answered late
    figures = recovery(frame, fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    assert figures.failed == 3 and figures.failed_by_outcome["connection_error"] == 3
    window = figures.error_window_s
    assert window is not None and window.model_dump() == {"first": 5.0, "last": pytest.approx(6.1),
                                                          "length": pytest.approx(1.1)}
    assert figures.p99_before_ms == 100.0  # the request the fault hit completed after it: not "before"
    assert figures.in_flight_at_fault.model_dump() == {
        "count": 1, "outcomes": {**{k: 0 for k in figures.failed_by_outcome}, "ok": 1}}
    assert figures.steady_state_before.model_dump() == {"requests": 7, "breaches": 0, "held": True}  # 1.0 ... 4.0
    assert figures.outage_start_s == 0.0  # the request in flight at the fault, answered beyond the SLO
    assert figures.breaches == 4 and figures.relapses == 0
    assert figures.time_to_first_success_s == pytest.approx(6.6 - 4.8)  # request at 6.5 answered at 6.6
    # Good requests only from the one scheduled at 6.5, answered at 6.6; the last breach, at 6.0, failed at 6.1.
    assert figures.time_to_recovery_s == pytest.approx(1.8) and figures.outage_s == pytest.approx(1.3)
    assert figures.time_to_first_success_s is not None and figures.time_to_recovery_s is not None
    assert figures.time_to_recovery_s >= figures.time_to_first_success_s  # one clock: answers
    assert figures.verdict == "recovered" and figures.observed_after_s == pytest.approx(4.7)


def test_a_straggler_answered_after_the_recovery_does_not_stretch_the_outage_past_it() -> None:
    """A network fault: the request scheduled at 5.5 is answered at 7.9, after the healthy requests from 6.0 on
    began answering (6.1): the service recovered at 6.1, the outage ends there, the straggler is a breach."""
    frame = hand_made_run()
    frame.loc[frame["scheduled_s"] == 5.0, "outcome"] = "timeout"
    frame.loc[frame["scheduled_s"] == 5.5, ["done_s", "latency_ms"]] = [7.9, 2400.0]
    figures = recovery(frame, fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    end = figures.outage_end_s
    assert end is not None and figures.outage_start_s is not None and figures.time_to_recovery_s is not None
    assert figures.outage_start_s <= end <= figures.time_to_recovery_s
    assert end == pytest.approx(6.1 - 4.8) and figures.time_to_recovery_s == pytest.approx(6.1 - 4.8)
    assert figures.breaches == 2 and figures.relapses == 0


def test_one_success_between_failures_is_not_a_recovery() -> None:
    frame = hand_made_run()
    frame.loc[frame["scheduled_s"].isin([5.0, 5.5, 6.5]), "outcome"] = "timeout"  # 6.0 succeeds alone
    figures = recovery(frame, fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    assert figures.time_to_recovery_s == pytest.approx(7.1 - 4.8)  # the request at 7.0, answered at 7.1
    assert figures.outage_s == pytest.approx(6.6 - 5.0) and figures.time_to_first_success_s == pytest.approx(1.3)


def test_an_outage_that_starts_late_is_measured_from_its_start() -> None:
    """A preStop-like delay: 5 s of normal service after the fault, then 15 s in which everything fails."""
    frame = hand_made_run(step=0.25, end=40.0)
    frame.loc[frame["scheduled_s"].between(15.0, 29.99), "outcome"] = "connection_error"
    figures = recovery(frame, fault_s=10.0, slo_ms=150.0, healthy_s=2.0, max_recovery_s=30.0)
    assert figures.outage_start_s == pytest.approx(5.0)
    assert figures.time_to_first_success_s == pytest.approx(20.1)  # not the 0.1 s of the first request after it
    assert figures.time_to_recovery_s == pytest.approx(20.1) and figures.outage_s == pytest.approx(14.85)
    assert recovery(frame, 10.0, 150.0, 2.0, max_recovery_s=10.0).verdict == "not recovered"
    frame.loc[frame["scheduled_s"] >= 38.0, "outcome"] = "timeout"  # failing again at the end: a relapse
    relapsed = recovery(frame, 10.0, 150.0, 2.0, max_recovery_s=30.0)
    assert relapsed.verdict == "recovered" and relapsed.relapses == 8


def test_a_run_too_short_to_decide_is_not_observed_long_enough() -> None:
    frame = hand_made_run(step=0.25, end=20.0)
    frame.loc[frame["scheduled_s"] >= 12.0, "outcome"] = "connection_error"  # failing until the run ends
    assert recovery(frame, 10.0, 150.0, 2.0, max_recovery_s=15.0).verdict == "not observed long enough"
    assert recovery(frame, 10.0, 150.0, 2.0, max_recovery_s=5.0).verdict == "not recovered"


def test_a_fault_nobody_noticed_holds_the_steady_state() -> None:
    figures = recovery(hand_made_run(), fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    assert figures.verdict == "held" and figures.outage_start_s is None and figures.breaches == 0
    assert figures.time_to_first_success_s is None and figures.time_to_recovery_s == 0.0


def test_a_service_unhealthy_before_the_fault_fails_the_steady_state_check() -> None:
    frame = hand_made_run()
    frame.loc[frame["scheduled_s"] == 2.0, "latency_ms"] = 400.0
    figures = recovery(frame, fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    assert figures.steady_state_before.model_dump() == {"requests": 8, "breaches": 1, "held": False}  # 1.0 ... 4.5


def test_rendered_manifests_validate_and_carry_the_operational_settings() -> None:
    params = K3sParams()
    served = ServedImage(image="servebench-optimized:abc123", version="abc123", timeout_s=30.0)
    versions = supported_versions(params.min_kubernetes_version)
    assert versions[0] == "1.30.0" and len(versions) >= 2  # from the declared minimum to the newest known
    for replicas in (1, 2):
        objects = render(params, served, replicas)
        validate(objects, versions)
        kinds = [manifest["kind"] for manifest in objects]
        assert kinds == ["Namespace", "NetworkPolicy", "Deployment", "Service", "PodDisruptionBudget",
                         "HorizontalPodAutoscaler"]
        namespace, policy, deployment = objects[:3]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert policy["spec"]["egress"] == [] and policy["spec"]["ingress"][0]["ports"][0]["port"] == params.port
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert "replicas" not in deployment["spec"] and objects[5]["spec"]["minReplicas"] == replicas
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert container["image"] == "servebench-optimized:abc123" and container["imagePullPolicy"] == "Never"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == params.name and labels["app.kubernetes.io/version"] == "abc123"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # room to load the model
        assert startup["periodSeconds"] <= 2  # polled at the cold start's scale (2-7 s), not every 5 s
        assert rollout_fit(params, replicas).fits  # the rollout's peak (HPA ceiling + surge) fits a 2-core node
        assert set(container["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == params.prestop_s
        assert pod["terminationGracePeriodSeconds"] == params.prestop_s + 30 + 5  # prestop + timeout + margin
        security = container["securityContext"]
        assert security["runAsNonRoot"] and not security["allowPrivilegeEscalation"]
        assert security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        env = {variable["name"]: variable["value"] for variable in container["env"]}
        assert env["BENTOML_HOME"] in mounts and "/tmp" in mounts
        assert all("emptyDir" in volume for volume in pod["volumes"])
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    with pytest.raises(ManifestError, match=r"Kubernetes 1\.2[0-9]\.0: Deployment"):  # preStop sleep is newer
        validate(render(params, served, 1), ["1.28.0"])


def test_a_sizing_whose_rollout_would_not_fit_the_node_is_refused() -> None:
    """The previous sizing: 750m requests, HPA up to 4, a surge pod: 5 x 750m + 200m on a 2,000m node; memory
    alike: 3 x 1Gi + 140Mi fits 4Gi, 3 x 2Gi does not."""
    fit = rollout_fit(K3sParams(), 2)
    assert fit.groups[0].count == 3 and fit.needed_cpu_m == 1700 and fit.fits
    assert fit.needed_memory_b == 3 * 2**30 + 140 * 2**20
    assert millicores("1.5") == 1500 and millicores("250m") == 250
    assert quantity_bytes("1Gi") == 2**30 and quantity_bytes("256Mi") == 2**28 and quantity_bytes("1G") == 10**9
    with pytest.raises(ServebenchError, match=r"CPU 5 pods .* x 750m \+ 200m .* = 3950m of 2000m .* at most 360m"):
        require_fit(K3sParams(cpu_request="750m", hpa_max_replicas=4), 2)
    assert require_fit(K3sParams(cpu_request="750m", hpa_max_replicas=4, node_cpu="4", node_memory="8Gi"), 2).fits
    with pytest.raises(ServebenchError, match=r"memory 3 x 2,048Mi \+ 140Mi = 6,284Mi of 4,096Mi \(does NOT fit\).*"
                                              r"k3s\.memory_request to at most 1318Mi"):
        require_fit(K3sParams(memory_request="2Gi", memory_limit="2Gi"), 1)


def test_a_cluster_load_test_is_sized_with_its_generator_pods_beside_the_served_ones() -> None:
    cluster = ClusterLoadParams()  # 1 served pod (500m, 1Gi) and 2 generator pods (500m, 256Mi)
    fit = loadtest_fit(K3sParams(), cluster)
    assert fit.needed_cpu_m == 500 + 2 * 500 + 200 and fit.fits
    crowded = ClusterLoadParams(shards=4)
    with pytest.raises(ServebenchError, match=r"1 served pods x 500m \+ 4 generator pods x 500m \+ 200m of system "
                                              r"pods = 2700m of 2000m allocatable \(does NOT fit\)"):
        require_loadtest_fit(K3sParams(), crowded)


def test_the_service_is_reachable_from_the_cluster_and_its_node_only_unless_a_node_port_is_asked_for() -> None:
    served = ServedImage(image="x:1", version="1", timeout_s=30.0)
    service = next(item for item in render(K3sParams(), served, 1) if item["kind"] == "Service")
    assert service["spec"]["type"] == "ClusterIP" and "nodePort" not in service["spec"]["ports"][0]
    opened = next(item for item in render(K3sParams(service_type="NodePort"), served, 1) if item["kind"] == "Service")
    assert opened["spec"]["type"] == "NodePort" and opened["spec"]["ports"][0]["nodePort"] == 30080


def test_a_manifest_with_an_invalid_field_fails_validation() -> None:
    objects = render(K3sParams(), ServedImage(image="x:1", version="1", timeout_s=30.0), 1)
    broken = copy.deepcopy(objects)
    broken[2]["spec"]["template"]["spec"]["containers"][0]["resources"]["limitz"] = {"cpu": "1"}
    with pytest.raises(ManifestError, match="Deployment servebench-optimized"):
        validate(broken, ["1.31.0"])
    wrong_type = copy.deepcopy(objects)
    wrong_type[2]["spec"]["replicas"] = "two"
    with pytest.raises(ManifestError, match="replicas"):
        validate(wrong_type, ["1.31.0"])


def test_timeline_data_has_zero_rows_for_empty_seconds_and_counts_failures() -> None:
    """A 4 s outage (3.0-7.0 s, every request failing): its seconds are rows of zero ok responses, not a gap
    the line would bridge, and each of them counts its 4 failed requests; seconds run from the fault."""
    frame = hand_made_run(step=0.25, end=10.0)
    frame.loc[frame["scheduled_s"].between(3.0, 6.99), "outcome"] = "connection_error"
    timeline = fault_timeline(frame, fault_s=3.0).set_index("from_fault_s")
    assert timeline.index.min() == -3 and timeline.index.max() >= 6
    assert timeline.loc[0:3, "ok_per_s"].tolist() == [0, 0, 0, 0]
    assert timeline.loc[0:3, "failed_per_s"].tolist() == [4, 4, 4, 4]
    assert list(timeline.loc[-2, ["ok_per_s", "failed_per_s"]]) == [4, 0]
    both = fault_timelines({"a": [timeline.reset_index()], "b": [timeline.reset_index()] * 3}, "failed_per_s")
    assert list(both.columns) == ["from_fault_s", "a", "b"] and list(both.set_index("from_fault_s").loc[1]) == [4, 4]


def test_faults_strike_at_seeded_distinct_busy_instants() -> None:
    schedule = np.concatenate([np.arange(0.0, 10.0, 1.0), np.arange(10.0, 12.0, 0.05), np.arange(12.0, 20.0, 1.0)])
    instants = busy_instants(schedule, [5.0, 18.0], 3, seed=4)
    assert instants == busy_instants(schedule, [5.0, 18.0], 3, seed=4)  # reproducible
    assert len(set(instants)) == 3 and all(5.0 <= t <= 18.0 and t in schedule for t in instants)
    draws = [t for seed in range(50) for t in busy_instants(schedule, [5.0, 18.0], 1, seed)]
    assert np.mean([10.0 <= t < 12.5 for t in draws]) > 0.8  # the burst holds 40 of 54 candidates, most weight
    with pytest.raises(ValueError, match="no scheduled send"):
        busy_instants(schedule, [30.0, 40.0], 1, seed=0)


FREEZE = FaultSeries("freeze", "freeze", None, "resilience")


def summary_run(failed: int, recovery_s: float | None, verdict: str, steady: bool = True, audited: bool = True,
                attempt: int = 0) -> FaultRecovery:
    figures = recovery(hand_made_run(), fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    changed = figures.model_dump() | {
        "failed": failed, "time_to_recovery_s": recovery_s, "verdict": verdict,
        "steady_state_before": {"requests": 7, "breaches": 0 if steady else 2, "held": steady}}
    return FaultRecovery(fault_at_s=4.8, fault_end_s=4.9, actions=[], **changed, generator_audit_valid=audited,
                         generator_audit_reasons=[] if audited else ["send lag"], timeline="x.png", attempt=attempt)


def test_a_fault_summary_counts_only_repeats_in_steady_state_and_says_how_many() -> None:
    runs = [summary_run(3, 2.0, "recovered"), summary_run(9, None, "not recovered"), summary_run(0, 0.0, "held"),
            summary_run(50, 9.0, "recovered", steady=False)]
    summary = summarize_fault(runs, FaultSeries("kill-worker-2-workers", "kill-worker", 2, "resilience"))
    assert summary.steady_before == 3 and summary.repeats == 4
    assert summary.failed.model_dump() == {"n": 3, "median": 3, "low": 0, "high": 9, "confidence": 0.75}
    assert summary.time_to_recovery_s.model_dump() == {"n": 2, "median": 1.0, "low": 0.0, "high": 2.0,
                                                       "confidence": 0.5}
    assert summary.verdict == "not recovered" and summary.verdicts[:3] == ["recovered", "not recovered", "held"]
    assert summary.workers == 2 and summary.recorded_equals_scheduled


def test_a_run_that_failed_the_generators_audit_is_in_no_figure_and_its_rerun_is() -> None:
    runs = [summary_run(40, 9.0, "not recovered", audited=False), summary_run(3, 2.0, "recovered", attempt=1),
            summary_run(5, 3.0, "recovered")]
    summary = summarize_fault(runs, FREEZE)
    assert summary.repeats == 2 and summary.audit_failed == 1
    assert summary.failed.model_dump()["high"] == 5 and summary.verdict == "recovered"
    assert summarize_fault(runs[:1], FREEZE).verdict.startswith("not measured")


def test_sre_figures_on_a_hand_made_run() -> None:
    frame = hand_made_run(step=0.1, end=20.0)  # 10 req/s; warm-up: the first second
    frame.loc[frame["scheduled_s"].between(5.0, 5.95), "outcome"] = "connection_error"  # 10 failed
    frame.loc[frame["scheduled_s"].between(6.0, 6.45), "latency_ms"] = 1500.0  # 5 late
    figures = recovery(frame, fault_s=5.0, slo_ms=1000.0, healthy_s=1.0, max_recovery_s=10.0)
    settings = SreParams(objective=0.999, windows_s=[300.0, 3600.0], page_burn_rate=14.4, after_fault_s=[5.0, 10.0])
    sre = sre_figures(frame, figures, fault_s=5.0, fault_end_s=5.5, slo_ms=1000.0, timeout_s=10.0,
                      settings=settings)
    assert sre.availability == pytest.approx(1 - 15 / 190)
    assert sre.availability_after_fault == {"5": pytest.approx(1 - 15 / 50), "10": pytest.approx(1 - 15 / 100)}
    # 15 bad requests in a 5-min window of 10 req/s: 0.5 % bad, 5x a 0.1 % budget; 1 h: 0.42x
    assert sre.burn_rate == {"300": pytest.approx(15 / 3000 / 0.001), "3600": pytest.approx(15 / 36000 / 0.001)}
    assert not sre.would_page  # the long window stays under 14.4
    assert sre.p99_after_fault_ms == pytest.approx(10_000.0)  # failures count at the timeout
    assert figures.time_to_recovery_s is not None
    assert sre.recovered_after_fault_end_s == pytest.approx(figures.time_to_recovery_s - 0.5)
    # the outage: from the first failure (5.0) to the last late request's answer (6.5); 15 of its 16 were bad
    assert sre.outage_severity == pytest.approx(15 / 16)
    paged = sre_figures(frame, figures, 5.0, 5.5, 1000.0, 10.0, settings.model_copy(update={"objective": 0.99999}))
    assert paged.would_page and min(paged.burn_rate.values()) >= 14.4


@pytest.mark.e2e
def test_killing_one_of_two_workers_is_a_partial_failure(built: dict[str, Any], tmp_path: Path) -> None:
    """With resilience.multi_worker's override the same Bento serves with two workers; kill-worker takes one."""
    bento = built["bentos"]["services"]["optimized"]["bento"]
    with BentoServer(bento, built["home"], tmp_path / "two.log", ready_timeout_s=120,
                     extra_env={WORKERS_ENV: "2"}) as server:
        warm_up(f"{server.url}{CLASSIFY}", TEXTS, 3, 5.0)
        before = worker_pids(server)
        run = faulted_run(f"{server.url}{CLASSIFY}", LOAD.model_copy(update={"duration_s": 10.0}), TEXTS, 3.0,
                          partial(inject, "kill-worker", Target(server), FAULTS))
        after = worker_pids(server)
    assert len(before) == 2 and len(after) == 2 and len(set(before) & set(after)) == 1  # one survived
    measured = run.records[~run.records["warmup"]]
    assert len(measured) == (measured["outcome"] != "not_sent").sum()  # every request accounted
    soon_after = measured[measured["scheduled_s"].between(run.fault_s, run.fault_s + 1.0)]
    assert (soon_after["outcome"] == "ok").any()  # the surviving worker kept answering


def test_a_request_in_flight_at_the_fault_that_fails_starts_the_outage() -> None:
    frame = hand_made_run()
    frame.loc[9, "outcome"], frame.loc[9, "done_s"] = "connection_error", 5.0  # sent at 4.5, killed at the fault
    figures = recovery(frame, fault_s=4.8, slo_ms=150.0, healthy_s=1.0, max_recovery_s=30.0)
    assert figures.outage_start_s == 0.0 and figures.time_to_first_success_s == pytest.approx(0.3)
    assert figures.outage_s == pytest.approx(0.2)  # 4.8 -> the failure's end at 5.0: not a 2 s window
    assert figures.time_to_recovery_s == pytest.approx(0.3) and figures.verdict == "recovered"


def test_each_repeat_draws_its_own_schedule_and_instant() -> None:
    from stages.experiment.resilience import fault_instant, repeat_scenario
    from stages.loadgen.arrivals import draw_schedule
    from stages.loadgen.payloads import arrival_spec

    settings = ResilienceParams()
    loads = [repeat_scenario(LOAD, repeat) for repeat in (1, 2, 3)]
    assert loads[0] == LOAD and len({load.seed for load in loads}) == 3
    schedules = [draw_schedule(arrival_spec(load)) for load in loads]
    assert not np.array_equal(schedules[0][:20], schedules[1][:20])
    instants = [fault_instant(schedule, settings, "freeze", repeat)
                for repeat, schedule in enumerate(schedules, start=1)]
    assert all(instant in schedule for instant, schedule in zip(instants, schedules, strict=True))
    assert instants == [fault_instant(schedule, settings, "freeze", r) for r, schedule in enumerate(schedules, start=1)]


def test_the_reports_sre_table_gives_each_figure_over_the_audited_runs_with_its_confidence() -> None:
    frame = hand_made_run(step=0.1, end=20.0)
    frame.loc[frame["scheduled_s"].between(5.0, 5.95), "outcome"] = "connection_error"
    params = parse_params(Params, {})
    runs = []
    for audited in (True, True, True, False):
        run = summary_run(10, 1.0, "recovered", audited=audited)
        figures = recovery(frame, fault_s=5.0, slo_ms=1000.0, healthy_s=1.0, max_recovery_s=10.0)
        runs.append(run.model_copy(update={"sre": sre_figures(frame, figures, 5.0, 5.5, 1000.0, 10.0,
                                                                 params.resilience.sre)}))
    summary = summarize_fault(runs, FREEZE)
    assert summary.availability is not None and summary.availability.n == 3 and summary.audit_failed == 1
    table = sre_table(Resilience(target="local", service="optimized", scenario="resilience",
                                 faults={"kill-worker": summary}, all_requests_recorded=True), params.resilience)
    row = next(line for line in table.splitlines() if line.startswith("| kill-worker"))
    assert "| 3 (1 failed the audit) | 94.7% [94.7%, 94.7%] |" in row and "| 0/3 |" in row
    assert "(75% at n = 3)" in table and "burn 5 min" in table and "burn 1 h" in table


def fault_in_effect(fault: str, stage: psutil.Process) -> bool:
    """freeze: a server process of the stage is stopped; cpu-throttle: the fault's cgroup exists."""
    if fault == "freeze":
        return any(child.status() == psutil.STATUS_STOPPED for child in stage.children(recursive=True))
    found = cgroup_controller("cpu")
    return not isinstance(found, str) and bool(list(found.parent().glob("servebench-throttle-*")))


@pytest.mark.e2e
@pytest.mark.parametrize("fault", ["freeze", "cpu-throttle"])
def test_a_sigterm_mid_fault_lifts_the_fault_and_leaves_no_process_nor_cgroup(built: dict[str, Any], tmp_path: Path,
                                                                              fault: str) -> None:
    """The resilience stage, local, stopped by SIGTERM while a 30-s fault holds the server: it exits 143 through
    its finally blocks, and neither a (stopped) server process nor a fault cgroup survives it."""
    if (reason := unavailable(fault)) is not None:
        pytest.skip(f"{fault} unavailable: {reason}")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "corpus.jsonl").write_text("".join(f'{{"text": "{text}"}}\n' for text in TEXTS))
    (tmp_path / "bentos.json").write_text(json.dumps(built["bentos"]))
    params = write_params(tmp_path / "params.yaml", {
        "loadgen": {"scenarios": {"fault": {"process": "exponential", "rate": 10.0, "duration_s": 40.0,
                                            "warmup_s": 1.0, "seed": 1, "timeout_s": 5.0}}},
        "resilience": {"scenario": "fault", "faults": [fault], "repeats": 1, "fault_window_s": [3.0, 4.0],
                       "freeze_s": 30.0, "throttle_s": 30.0, "throttle_cpus": 0.05, "max_reruns": 0,
                       "multi_worker": {"workers": 2, "faults": []}, "near_capacity": {"faults": []},
                       "failover": {"faults": []}}})
    stage = subprocess.Popen([sys.executable, "-m", "stages.resilience", "--params", str(params), "--bentos",
                              str(tmp_path / "bentos.json"), "--dataset", str(dataset), "--runs",
                              str(tmp_path / "runs"), "--out", str(tmp_path / "out.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(stage.pid)
    deadline = time.monotonic() + 180
    while not fault_in_effect(fault, watched) and time.monotonic() < deadline and stage.poll() is None:
        time.sleep(0.2)
    assert fault_in_effect(fault, watched), "the fault never took effect"
    servers = watched.children(recursive=True)
    stage.send_signal(signal.SIGTERM)
    output, _ = stage.communicate(timeout=120)
    assert stage.returncode == 128 + signal.SIGTERM, output
    _, alive = psutil.wait_procs(servers, timeout=10)
    assert alive == [], [process.cmdline() for process in alive]
    found = cgroup_controller("cpu")
    assert isinstance(found, str) or not list(found.parent().glob("servebench-*"))


def test_the_plan_runs_each_fault_at_both_loads_and_behind_the_balancer() -> None:
    settings = ResilienceParams(faults=["freeze"], multi_worker=MultiWorkerParams(faults=[]),
                                near_capacity=NearCapacityParams(scenario="near", faults=["freeze", "cpu-stress"]),
                                failover=FailoverParams(replicas=3, faults=["kill-server"]))
    plan = {series.key: series for series in local_plan(settings)}
    assert list(plan) == ["freeze", "freeze-near-capacity", "cpu-stress-near-capacity", "kill-server-3-replicas"]
    assert plan["freeze-near-capacity"].scenario == "near" and plan["freeze"].scenario == settings.scenario
    assert plan["kill-server-3-replicas"].replicas == 3 and plan["freeze"].replicas == 1


@pytest.mark.integration
def test_the_balancer_config_is_one_haproxy_accepts_and_its_stats_parse(tmp_path: Path) -> None:
    settings = ResilienceParams().failover
    config = haproxy_config(18080, 18081, [("127.0.0.1", 18090), ("127.0.0.1", 18091)], settings)
    assert "retry-on conn-failure empty-response response-timeout" in config and "option redispatch" in config
    assert "inter 500 fall 2 rise 2" in config and "timeout server 800ms" in config
    stats = ("# pxname,svname,qcur,status,\nclassify,FRONTEND,,OPEN,\nreplicas,replica-0,0,DOWN,\n"
             "replicas,replica-1,0,UP,\nreplicas,BACKEND,0,UP,\n")
    assert replica_states(stats) == {"replica-0": "DOWN", "replica-1": "UP"}
    system_tool_or_skip(balancer_missing(), "SERVEBENCH_REQUIRE_HAPROXY")
    (tmp_path / "haproxy.cfg").write_text(config)
    checked = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("fault", ["kill-server", "partition"])
def test_a_struck_replica_behind_the_balancer_fails_over_and_rejoins(built: dict[str, Any], tmp_path: Path,
                                                                     fault: str) -> None:
    """Two replicas behind HAProxy, one SIGKILLed under load and restarted by the supervisor, or cut off behind a
    proxy: the balancer takes it out, retries its requests on the other, and brings it back once /readyz answers
    through to it again."""
    system_tool_or_skip(balancer_missing(), "SERVEBENCH_REQUIRE_HAPROXY")
    series = FaultSeries(f"{fault}-2-replicas", fault, None, "x", replicas=2)

    def server(index: int) -> BentoServer:
        return serve_optimized(built, tmp_path / f"server-{index}.log")

    with replicas_served(2, server) as servers, \
            fault_target(series, servers, FAULTS, tmp_path / "balancer.log") as (url, struck, balancer):
        assert balancer is not None and struck.server is servers[0]
        warm_up(f"{url}{CLASSIFY}", TEXTS, 10, LOAD.timeout_s)
        run = faulted_run(f"{url}{CLASSIFY}", LOAD, TEXTS, 6.0, partial(inject, fault, struck, FAULTS))
        changes = [change.split(" ", 2)[2] for change in balancer.changes]
    measured = run.records[~run.records["warmup"]]
    assert len(measured) > 100 and (measured["outcome"] == "ok").mean() >= 0.99, measured["outcome"].value_counts()
    assert "replica-0 DOWN" in changes and changes[-1] == "replica-0 UP", changes
    assert not any(change.startswith("replica-1") for change in changes)  # the other replica never left


def faulted_summary(series: FaultSeries, failing: tuple[float, float], params: Params) -> FaultSummary:
    """Three audited repeats of ``series`` whose requests scheduled in ``failing`` (s) failed."""
    frame = hand_made_run(step=0.1, end=20.0)
    frame.loc[frame["scheduled_s"].between(*failing), "outcome"] = "connection_error"
    figures = recovery(frame, fault_s=5.0, slo_ms=1000.0, healthy_s=1.0, max_recovery_s=10.0)
    run = summary_run(figures.failed, 1.0, "recovered").model_copy(update={
        "failed_by_outcome": figures.failed_by_outcome, "measured": figures.measured,
        "sre": sre_figures(frame, figures, 5.0, 5.5, 1000.0, 10.0, params.resilience.sre)})
    load = OfferedLoad(rate_per_s=8.0, capacity_per_s={"optimized": 40.0}, multiple_of_capacity={"optimized": 0.2})
    return summarize_fault([run] * 3, series, load)


def test_the_report_sets_a_failover_beside_the_same_fault_on_one_server_and_says_why_it_missed() -> None:
    params = parse_params(Params, {})
    lone = FaultSeries("kill-server", "kill-server", None, "resilience")
    pair = FaultSeries("kill-server-2-replicas", "kill-server", None, "resilience", replicas=2)
    results = {"kill-server": faulted_summary(lone, (5.0, 7.95), params),
               "kill-server-2-replicas": faulted_summary(pair, (5.0, 5.05), params)}
    resilience = Resilience(target="local", service="optimized", scenario="resilience", faults=results,
                            all_requests_recorded=True)
    row = next(line for line in failover_table(resilience, params.resilience).splitlines()
               if line.startswith("| kill-server-2"))
    # 1 of 190 failed behind the balancer: 99.5 %, the objective met; 30 of 190 on the lone server
    assert "| 99.5% [99.5%, 99.5%] | 1 [1, 1] |" in row and "| yes | kill-server | 84.2% [84.2%, 84.2%] | 30 [" in row
    missed = {**results, "kill-server-2-replicas": faulted_summary(pair, (5.0, 5.25), params)}
    row = next(line for line in failover_table(resilience.model_copy(update={"faults": missed}), params.resilience)
               .splitlines()
               if line.startswith("| kill-server-2"))
    assert "**no**: 9 of 570 requests bad (9 connection_error)" in row
    assert loads_line(resilience) == "\n\nLoads: `resilience` 8 req/s (0.20x optimized's capacity)."
