"""Cluster mode end to end against a fake kubectl and sudo (tests/fake_cluster, its simulated Deployment): the
resilience stage under load on loopback, the calls it makes, what it refuses, and its rollback. The fake's
disruptions affect the traffic (a Deployment left without a pod stalls the Service), so the recovery figures come
through the cluster path."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import write_params

from stages.common.net import free_port
from stages.faults.cluster import ClusterTargetError, Disruptor
from stages.loadgen.nullserver import start_null_server
from stages.manifests.render import ServedImage, render
from stages.params.k3s import K3sParams
from stages.params.resilience import ClusterParams

FAKES = Path(__file__).parent / "fake_cluster"
CONTEXT, NAMESPACE, DEPLOYMENT = "k3s-lab", "servebench", "svc"
CLUSTER_UID = "kube-system-uid-of-the-lab"
DECOY = "other-workload-pod"  # matches the Deployment's labels, owned by something else: never to be touched
LOOKALIKE = "same-labels-in-another-namespace"  # in namespace default: on the node only when it is shared
SYSTEM_POD = "coredns-0"  # K3s's own, in kube-system: a node fault may run beside it


def rendered_budget() -> dict[str, Any]:
    """The PodDisruptionBudget's spec of the manifests the k3s stage renders: the fake's evictions obey it."""
    objects = render(K3sParams(), ServedImage(image="servebench:test", version="test", timeout_s=30.0), 1)
    spec: dict[str, Any] = next(item for item in objects if item["kind"] == "PodDisruptionBudget")["spec"]
    return spec


def cluster(tmp_path: Path, null_server: str, annotated: bool = True, node: str | None = None,
            shared_node: bool = False, outage_s: float = 1.0, **fake: object) -> dict[str, str]:
    """A fake cluster's state (``fake``: extra switches of the fake kubectl) and the environment that puts the
    fakes first on PATH. ``shared_node``: the look-alike of another namespace runs on the target pods' node."""
    node = node or socket.gethostname()
    state = {"context": CONTEXT, "contexts": [CONTEXT, "production"], "node": node, "serial": 1, "cordoned": [],
             "cluster_uid": CLUSTER_UID,
             "deployment": {"name": DEPLOYMENT, "uid": "deploy-uid", "labels": {"app.kubernetes.io/name": DEPLOYMENT},
                            "annotations": {"servebench.io/disruptions": "allowed"} if annotated else {}},
             "replicasets": {f"{DEPLOYMENT}-rs-1": {"uid": "rs-uid-1", "replicas": 1}},
             "pods": {f"{DEPLOYMENT}-rs-1-pod-1": {"node": node, "owner": "rs-uid-1"},
                      DECOY: {"node": node, "owner": "other"},
                      LOOKALIKE: {"node": node if shared_node else "another-node", "owner": "another-namespace-rs",
                                  "namespace": "default"},
                      SYSTEM_POD: {"node": node, "owner": "coredns-rs", "namespace": "kube-system"}},
             "hpa": {"minReplicas": 1, "maxReplicas": 4},
             "budget": rendered_budget(), "service": null_server, "outage_s": outage_s} | fake
    (tmp_path / "state.json").write_text(json.dumps(state))
    return {**os.environ, "PATH": f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "FAKE_CLUSTER_DIR": str(tmp_path)}


def stage_command(tmp_path: Path, null_server: str, duration_s: float = 5.5, **cluster_settings: object) -> list[str]:
    dataset = tmp_path / "dataset"
    dataset.mkdir(exist_ok=True)
    (dataset / "corpus.jsonl").write_text('{"text": "good"}\n{"text": "bad"}\n')
    settings = {"context": CONTEXT, "cluster_uid": CLUSTER_UID, "namespace": NAMESPACE, "deployment": DEPLOYMENT,
                "url": null_server,
                "disruptions": ["delete-pod", "evict-pod", "rollout-restart", "delete-replicaset"],
                "replicas": [1, 2]} | cluster_settings
    params = write_params(tmp_path / "params.yaml", {
        "loadgen": {"scenarios": {"fault": {"process": "exponential", "rate": 20.0, "duration_s": duration_s,
                                            "warmup_s": 0.5, "seed": 1, "timeout_s": 2.0}}},
        "resilience": {"target": "cluster", "scenario": "fault", "repeats": 1, "fault_window_s": [1.0, 1.5],
                       # room for a busy machine: each fake kubectl call is a Python start-up
                       "slo_ms": 300, "healthy_s": 0.5, "max_recovery_s": 3.5, "cluster": settings}})
    return [sys.executable, "-m", "stages.resilience", "--params", str(params), "--dataset", str(dataset),
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out.json")]


def run_stage(tmp_path: Path, null_server: str, env: dict[str, str], *extra: str,
              **cluster_settings: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*stage_command(tmp_path, null_server, **cluster_settings), *extra], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)


def calls(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def state(tmp_path: Path) -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads((tmp_path / "state.json").read_text())
    return recorded


@pytest.mark.e2e
def test_every_default_disruption_end_to_end_with_recovery_figures(tmp_path: Path, null_server: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path, null_server))
    assert result.returncode == 0, result.stderr
    made = calls(tmp_path)
    assert made[0] == ["kubectl", "config", "get-contexts", "-o", "name"]  # the context is checked first
    kubectl = [call for call in made[1:] if call[0] == "kubectl"]
    assert all(call[1:5] == ["--context", CONTEXT, "--namespace", NAMESPACE] for call in kubectl)
    assert not [call for call in made if call[0] == "sudo"]  # node faults are off by default
    assert kubectl[0][5:8] == ["get", "namespace", "kube-system"]  # the pinned cluster, then the opt-in, first
    assert kubectl[1][5:7] == ["get", f"deployment/{DEPLOYMENT}"]
    assert not [call for call in kubectl if call[5] in ("drain", "cordon", "uncordon")]  # no node is touched
    faults = json.loads((tmp_path / "out.json").read_text())["faults"]
    runs = {kind: sum(len(fault["runs"]) for key, fault in faults.items() if key.startswith(kind))
            for kind in ("delete-pod", "delete-replicaset")}  # one per replica count, more where a run was rerun
    deletes = [call for call in kubectl if call[5:7] == ["delete", "pod"]]
    assert len(deletes) == runs["delete-pod"] >= 2  # one pod per run, of the Deployment's own
    assert all(call[7].startswith(f"{DEPLOYMENT}-rs-") for call in deletes)
    replicasets = [call for call in kubectl if call[5:7] == ["delete", "replicaset"]]
    assert len(replicasets) == runs["delete-replicaset"] >= 2  # one named ReplicaSet per run, no -l
    assert all(len(call) == 9 for call in replicasets)
    assert DECOY in state(tmp_path)["pods"]  # the look-alike pod of another workload survived everything
    assert state(tmp_path)["hpa"] == {"minReplicas": 1, "maxReplicas": 4}  # pinned while measured, restored
    after = state(tmp_path)["replicasets"]
    assert [rs["replicas"] for rs in after.values() if rs["replicas"]] == [1]  # scaled to 2, back to its 1
    assert not (tmp_path / "logs" / "cluster-rollback.json").exists()
    verdicts = {key: fault["verdict"] for key, fault in faults.items()}
    # One replica: deleting its pod or its ReplicaSet leaves nothing serving (the fake stalls the Service 1 s);
    # the rendered budget (minAvailable 1) refuses the eviction; the rollout surges first. Two replicas: only the
    # ReplicaSet takes all.
    assert rendered_budget()["minAvailable"] == 1
    assert verdicts == {"delete-pod-1-replicas": "recovered", "evict-pod-1-replicas": "held",
                        "rollout-restart-1-replicas": "held", "delete-replicaset-1-replicas": "recovered",
                        "delete-pod-2-replicas": "held", "evict-pod-2-replicas": "held",
                        "rollout-restart-2-replicas": "held", "delete-replicaset-2-replicas": "recovered"}
    outage = faults["delete-pod-1-replicas"]["runs"][0]
    assert 0.3 < outage["outage_s"] < 2.5 and outage["scheduled"] == outage["recorded"]
    assert outage["steady_state_before"]["held"] and outage["time_to_first_success_s"] is not None
    assert any("refused" in action for action in faults["evict-pod-1-replicas"]["runs"][0]["actions"])


@pytest.mark.e2e  # the whole resilience stage under load
@pytest.mark.parametrize(("pinned", "refusal"), [
    ("kube-system-uid-of-production", "reaches the cluster whose kube-system UID is 'kube-system-uid-of-the-lab', "
                                      "not the pinned 'kube-system-uid-of-production'"),
    (None, "cluster_uid is not set: pin the cluster")])
def test_a_context_that_reaches_another_cluster_than_the_pinned_one_is_refused(
        tmp_path: Path, null_server: str, pinned: str | None, refusal: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path, null_server), cluster_uid=pinned)
    assert result.returncode != 0 and refusal in result.stderr
    changes = [call for call in calls(tmp_path) if call[0] == "kubectl" and "get" not in call
               and call[1:3] != ["config", "get-contexts"]]
    assert changes == []  # nothing was changed on a cluster it was not pinned to


@pytest.mark.e2e  # the whole resilience stage under load
def test_a_context_missing_from_the_kubeconfig_is_refused(tmp_path: Path, null_server: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path, null_server), context="k3s-lab-typo")
    assert result.returncode != 0 and "'k3s-lab-typo' is not in the kubeconfig" in result.stderr
    assert len(calls(tmp_path)) == 1  # only the lookup of the contexts


@pytest.mark.e2e  # the whole resilience stage under load
def test_a_deployment_without_the_opt_in_annotation_is_refused(tmp_path: Path, null_server: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path, null_server, annotated=False))
    assert result.returncode != 0 and "lacks the opt-in annotation servebench.io/disruptions=allowed" in result.stderr
    assert all(call[5] == "get" for call in calls(tmp_path)[1:])  # nothing was changed


@pytest.mark.e2e  # the whole resilience stage under load
def test_a_node_fault_evicts_only_the_deployments_own_pods_and_leaves_the_node_as_it_was(
        tmp_path: Path, null_server: str) -> None:
    env = cluster(tmp_path, null_server)
    result = run_stage(tmp_path, null_server, env, disruptions=["drain-node"], node_faults=True, replicas=[2])
    assert result.returncode == 0, result.stderr
    kubectl = [call for call in calls(tmp_path) if call[0] == "kubectl" and call[1] == "--context"]
    assert not [call for call in kubectl if "drain" in call]  # drain's selector spans every namespace
    evictions = [call for call in kubectl if "--raw" in call]
    assert evictions and all(f"/namespaces/{NAMESPACE}/pods/{DEPLOYMENT}-rs-" in call[call.index("--raw") + 1]
                             for call in evictions)
    after = state(tmp_path)
    assert DECOY in after["pods"] and LOOKALIKE in after["pods"] and after["cordoned"] == []
    marks = [call[5] for call in kubectl if call[5] in ("cordon", "uncordon")]
    assert marks and marks == ["cordon", "uncordon"] * (len(marks) // 2)  # each run's cordon undone (reruns too)


@pytest.mark.e2e  # the whole resilience stage under load
def test_a_node_fault_is_refused_on_a_node_that_runs_another_namespaces_pods(tmp_path: Path, null_server: str
                                                                             ) -> None:
    """The look-alike of namespace default on the node: restarting K3s or killing its containerd would strike it,
    so no node fault runs at all (kube-system's own pods beside the Deployment's are allowed)."""
    env = cluster(tmp_path, null_server, shared_node=True)
    result = run_stage(tmp_path, null_server, env, disruptions=["drain-node", "kill-containerd"], node_faults=True,
                       replicas=[1])
    assert result.returncode != 0 and f"also runs default/{LOOKALIKE}" in result.stderr, result.stderr
    assert "kube-system" not in result.stderr.split("also runs")[1].split(";")[0]  # the system pod is no reason
    changes = [call for call in calls(tmp_path) if call[0] == "sudo" or "--raw" in call or "cordon" in call]
    assert changes == [] and LOOKALIKE in state(tmp_path)["pods"]


@pytest.mark.e2e  # the whole resilience stage under load
def test_pods_that_run_but_are_not_ready_stop_the_experiment(tmp_path: Path, null_server: str) -> None:
    env = cluster(tmp_path, null_server, never_ready=True)
    result = run_stage(tmp_path, null_server, env, replicas=[1])
    assert result.returncode == 1 and "0 of 1 pods ready (1 running)" in result.stderr, result.stderr
    assert state(tmp_path)["hpa"] == {"minReplicas": 1, "maxReplicas": 4}  # rolled back all the same


@pytest.mark.e2e  # the whole resilience stage under load
def test_a_service_still_down_after_the_recovery_allowance_stops_the_load_and_the_experiment(
        tmp_path: Path) -> None:
    """The fake Service stalls for 30 s after the pod is deleted: max_recovery_s (3.5 s) after the disruption,
    nearly every request of the last 2 s is bad, so the load stops there (the rest stays unsent) and the
    experiment with it, the run kept. Its own null server: the stall would outlive the test."""
    port = free_port()
    server, url = start_null_server(port), f"http://127.0.0.1:{port}"
    try:
        env = cluster(tmp_path, url, outage_s=30.0)
        result = run_stage(tmp_path, url, env, duration_s=15.0, disruptions=["delete-pod"], replicas=[1],
                           abort_window_s=2.0)
    finally:
        server.kill()  # stalled: its held requests would keep a graceful exit waiting
        server.wait(timeout=10)
    assert result.returncode == 1 and "load stopped, experiment stopped" in result.stderr, result.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["aborted"] and "abort_error_rate 0.5" in out["aborted"]
    records = pd.read_parquet(next((tmp_path / "runs").rglob("records.parquet")))
    assert (records["outcome"] == "not_sent").sum() > 100  # 20 req/s: most of the last 10 s never sent
    assert state(tmp_path)["hpa"] == {"minReplicas": 1, "maxReplicas": 4}


@pytest.mark.e2e  # the whole resilience stage under load
def test_node_faults_need_their_switch_and_pods_on_this_machine(tmp_path: Path, null_server: str) -> None:
    env = cluster(tmp_path, null_server)
    result = run_stage(tmp_path, null_server, env, disruptions=["kill-containerd"])
    assert result.returncode != 0 and "resilience.cluster.node_faults: true" in result.stderr
    elsewhere = run_stage(tmp_path, null_server, cluster(tmp_path, null_server, node="another-node"),
                          disruptions=["kill-containerd"], node_faults=True)
    assert elsewhere.returncode != 0 and "not only on this machine" in elsewhere.stderr
    assert not [call for call in calls(tmp_path) if call[0] == "sudo"]
    here = run_stage(tmp_path, null_server, cluster(tmp_path, null_server), disruptions=["kill-containerd"],
                     node_faults=True, replicas=[1])
    assert here.returncode == 0, here.stderr
    # K3s's own containerd, by its socket under /run/k3s: not Docker's, not the sudo or pkill running the match.
    assert [call for call in calls(tmp_path) if call[0] == "sudo"] == [
        ["sudo", "-n", "pkill", "-9", "-f", "^containerd .*/run/k3s/containerd/"]]


def wait_until_pinned(tmp_path: Path, process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while state(tmp_path)["hpa"]["maxReplicas"] != 1:
        assert process.poll() is None and time.monotonic() < deadline, "the stage never pinned the HPA"
        time.sleep(0.05)


@pytest.mark.e2e  # the whole resilience stage under load
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_terminated_run_rolls_the_autoscaler_back(tmp_path: Path, null_server: str, sig: signal.Signals) -> None:
    process = subprocess.Popen(stage_command(tmp_path, null_server, duration_s=20.0), cwd=tmp_path, text=True,
                               env=cluster(tmp_path, null_server), stderr=subprocess.PIPE)
    wait_until_pinned(tmp_path, process)
    assert (tmp_path / "logs" / "cluster-rollback.json").is_file()  # written before the HPA was patched
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + sig, stderr
    assert state(tmp_path)["hpa"] == {"minReplicas": 1, "maxReplicas": 4} and "restored hpa/svc" in stderr
    assert not (tmp_path / "logs" / "cluster-rollback.json").exists()


@pytest.mark.e2e  # the whole resilience stage under load
def test_restore_undoes_what_a_killed_run_left(tmp_path: Path, null_server: str) -> None:
    env = cluster(tmp_path, null_server)
    process = subprocess.Popen(stage_command(tmp_path, null_server, duration_s=20.0), cwd=tmp_path, env=env)
    wait_until_pinned(tmp_path, process)
    process.kill()  # SIGKILL: no finally block runs
    process.wait(timeout=30)
    assert state(tmp_path)["hpa"]["maxReplicas"] == 1
    restored = run_stage(tmp_path, null_server, env, "--restore")
    assert restored.returncode == 0, restored.stderr
    assert "back to {'minReplicas': 1, 'maxReplicas': 4}" in restored.stdout
    assert state(tmp_path)["hpa"] == {"minReplicas": 1, "maxReplicas": 4}
    assert "nothing to restore" in run_stage(tmp_path, null_server, env, "--restore").stdout


@pytest.mark.e2e  # the whole resilience stage under load
def test_a_deployment_that_does_not_come_back_stops_the_experiment(tmp_path: Path, null_server: str) -> None:
    env = cluster(tmp_path, null_server)
    fake = state(tmp_path) | {"stuck_after": 1}  # the fake's rollout status fails after its first call
    (tmp_path / "state.json").write_text(json.dumps(fake))
    result = run_stage(tmp_path, null_server, env, replicas=[1])
    assert result.returncode == 1 and "did not return to 1 ready replicas" in result.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["aborted"] and len(out["faults"]) <= 1  # stopped after the first disruption
    assert state(tmp_path)["hpa"] == {"minReplicas": 1, "maxReplicas": 4}


def test_an_unconfigured_target_is_refused_before_any_command() -> None:
    with pytest.raises(ClusterTargetError, match="context is not set"):
        Disruptor(ClusterParams())
    disruptor = Disruptor(ClusterParams(context=CONTEXT, namespace=NAMESPACE, deployment=DEPLOYMENT))
    with pytest.raises(ClusterTargetError, match="refusing"):
        disruptor.run([["kubectl", "--context", "production", "--namespace", NAMESPACE, "delete", "pod", "x"]])
    with pytest.raises(ClusterTargetError, match="refusing"):
        disruptor.run([["kubectl", "--context", CONTEXT, "--namespace", "kube-system", "delete", "pod", "x"]])
    with pytest.raises(ClusterTargetError, match="no explicit"):
        disruptor.run([["kubectl", "delete", "pod", "x"]])
