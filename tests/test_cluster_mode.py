"""Cluster mode end to end against a fake kubectl and sudo (tests/fake_cluster): the resilience stage under load on
loopback, the calls it makes, and what it refuses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_params

from stages.common.params import ClusterParams
from stages.faults.cluster import ClusterTargetError, Disruptor

FAKES = Path(__file__).parent / "fake_cluster"
CONTEXT, NAMESPACE, DEPLOYMENT = "k3s-lab", "servebench", "svc"


def cluster(tmp_path: Path, annotated: bool = True, node: str | None = None) -> dict[str, str]:
    """A fake cluster's state and the environment that puts the fakes first on PATH."""
    state = {"context": CONTEXT, "deployment": DEPLOYMENT, "node": node or socket.gethostname(), "serial": 1,
             "pods": {f"{DEPLOYMENT}-pod-1": node or socket.gethostname()}, "cordoned": [],
             "annotations": {"servebench.io/disruptions": "allowed"} if annotated else {},
             "hpa": {"minReplicas": 1, "maxReplicas": 4}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    return {**os.environ, "PATH": f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "FAKE_CLUSTER_STATE": str(tmp_path / "state.json"), "FAKE_CLUSTER_LOG": str(tmp_path / "calls.jsonl")}


def run_stage(tmp_path: Path, null_server: str, env: dict[str, str], **cluster_settings: object
              ) -> subprocess.CompletedProcess[str]:
    dataset = tmp_path / "dataset"
    dataset.mkdir(exist_ok=True)
    (dataset / "corpus.jsonl").write_text('{"text": "good"}\n{"text": "bad"}\n')
    settings = {"context": CONTEXT, "namespace": NAMESPACE, "deployment": DEPLOYMENT, "url": null_server,
                "disruptions": ["delete-pod", "drain"], "replicas": [1, 2]} | cluster_settings
    params = write_params(tmp_path / "params.yaml", {
        "loadgen": {"scenarios": {"fault": {"process": "exponential", "rate": 20.0, "duration_s": 3.0,
                                            "warmup_s": 0.5, "seed": 1, "timeout_s": 2.0}}},
        "resilience": {"target": "cluster", "scenario": "fault", "repeats": 2, "fault_window_s": [1.0, 2.0],
                       "cluster": settings}})
    return subprocess.run([sys.executable, "-m", "stages.resilience", "--params", str(params), "--dataset",
                           str(dataset), "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out.json")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_cluster_mode_end_to_end_with_a_fake_kubectl(tmp_path: Path, null_server: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path))
    assert result.returncode == 0, result.stderr
    made = calls(tmp_path)
    kubectl = [call for call in made if call[0] == "kubectl"]
    assert all(call[1:5] == ["--context", CONTEXT, "--namespace", NAMESPACE] for call in kubectl)
    assert not [call for call in made if call[0] == "sudo"]  # node faults are off by default
    verbs = [call[5:7] for call in kubectl]
    assert verbs[0] == ["get", f"deployment/{DEPLOYMENT}"]  # the opt-in is checked before anything else
    assert verbs[1:3] == [["get", f"hpa/{DEPLOYMENT}"], ["patch", f"hpa/{DEPLOYMENT}"]]
    assert json.loads(kubectl[2][-1]) == {"spec": {"minReplicas": 1, "maxReplicas": 1}}  # pinned while measured
    assert json.loads(kubectl[-1][-1]) == {"spec": {"minReplicas": 1, "maxReplicas": 4}}  # and restored
    deletes = [call for call in kubectl if call[5:7] == ["delete", "pod"]]
    assert len(deletes) == 4 and all(len(call) == 9 and call[7].startswith(f"{DEPLOYMENT}-pod-") for call in deletes)
    drains = [index for index, call in enumerate(kubectl) if call[5] == "drain"]
    assert len(drains) == 4 and all(kubectl[index + 1][5] == "uncordon" for index in drains)
    assert json.loads((tmp_path / "state.json").read_text())["cordoned"] == []
    resilience = json.loads((tmp_path / "out.json").read_text())
    assert set(resilience["faults"]) == {"delete-pod-1-replicas", "drain-1-replicas", "delete-pod-2-replicas",
                                         "drain-2-replicas"}
    for fault in resilience["faults"].values():
        assert fault["repeats"] == 2 and fault["recorded_equals_scheduled"]
        for run in fault["runs"]:  # the fault log is filled: when it began and what it did
            assert run["fault_end_s"] >= run["fault_at_s"] > 0 and run["actions"]


def test_a_deployment_without_the_opt_in_annotation_is_refused(tmp_path: Path, null_server: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path, annotated=False))
    assert result.returncode != 0 and "lacks the opt-in annotation servebench.io/disruptions=allowed" in result.stderr
    assert all(call[5] == "get" for call in calls(tmp_path))  # nothing was changed


def test_node_faults_need_their_switch_and_pods_on_this_machine(tmp_path: Path, null_server: str) -> None:
    result = run_stage(tmp_path, null_server, cluster(tmp_path), disruptions=["kill-containerd"])
    assert result.returncode != 0 and "resilience.cluster.node_faults: true" in result.stderr
    elsewhere = run_stage(tmp_path, null_server, cluster(tmp_path, node="another-node"),
                          disruptions=["kill-containerd"], node_faults=True)
    assert elsewhere.returncode != 0 and "not only on this machine" in elsewhere.stderr
    assert not [call for call in calls(tmp_path) if call[0] == "sudo"]
    here = run_stage(tmp_path, null_server, cluster(tmp_path), disruptions=["kill-containerd"], node_faults=True,
                     replicas=[1])
    assert here.returncode == 0, here.stderr
    assert [call for call in calls(tmp_path) if call[0] == "sudo"] == [["sudo", "-n", "pkill", "-9", "-x",
                                                                       "containerd"]] * 2


def test_an_unconfigured_context_is_refused_before_any_command() -> None:
    with pytest.raises(ClusterTargetError, match="context is not set"):
        Disruptor(ClusterParams())
    disruptor = Disruptor(ClusterParams(context=CONTEXT, namespace=NAMESPACE, deployment=DEPLOYMENT))
    with pytest.raises(ClusterTargetError, match="refusing"):
        disruptor.run([["kubectl", "--context", "production", "--namespace", NAMESPACE, "delete", "pod", "x"]])
    with pytest.raises(ClusterTargetError, match="refusing"):
        disruptor.run([["kubectl", "--context", CONTEXT, "--namespace", "kube-system", "delete", "pod", "x"]])
    with pytest.raises(ClusterTargetError, match="no explicit"):
        disruptor.run([["kubectl", "delete", "pod", "x"]])
