"""Cluster-mode load tests through a fake ``kubectl`` whose objects really run (tests/fake_cluster): a Deployment
is a local server, an Indexed Job is N local generator processes with ``JOB_COMPLETION_INDEX`` set. The runner is
the one a real cluster gets (stages/cluster/run.py); only kubectl differs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Timing
from helpers import run_module, write_params

from stages.cluster.run import cluster_served_run
from stages.cluster.shard_log import ShardLogError, ShardResult, decode, encode
from stages.common.net import free_port
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import GeneratorUsage, RunRecorder
from stages.loadgen.nullserver import start_null_server
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import scenario_summary, send_scenario
from stages.manifests.generator import generator_job, generator_policy, served_objects
from stages.manifests.render import ServedImage, supported_versions, validate
from stages.params.base import parse_params
from stages.params.file import Params
from stages.params.loadgen import ScenarioParams
from stages.records.bentos import BuiltService
from stages.serving.imports import REPO_ROOT, import_closure, with_packages
from stages.serving.runs import RunSettings, RunSpec

FAKE_CLUSTER = Path(__file__).parent / "fake_cluster"
IMAGE = "nullbento:1"
SERVICE_MS = 10  # the stand-in server answers one request at a time, 10 ms each: queues form and clear
TEXTS = ["good", "bad", "fine", "what a day", "meh"]
# 60 req/s for 6 s against a 100 req/s server: the agreement test's schedule (tests/test_loadgen.py)
SCENARIO = ScenarioParams(process="exponential", rate=60.0, duration_s=6.0, seed=21, warmup_s=0.5)


@pytest.fixture
def fake_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake's folder: its state names the contexts, the command each image runs and the pods' python."""
    state = tmp_path / "cluster"
    state.mkdir()
    images = {IMAGE: [sys.executable, "-m", "stages.loadgen.nullserver", "--port", "{port}",
                      "--classify-ms", str(SERVICE_MS)]}
    write_state(state, {"contexts": ["fake", "other"], "images": images, "python": sys.executable})
    monkeypatch.setenv("PATH", f"{FAKE_CLUSTER}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                               f"{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CLUSTER_DIR", str(state))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))
    return state


def write_state(state_dir: Path, state: dict[str, Any]) -> None:
    (state_dir / "state.json").write_text(json.dumps(state))


def cluster_params(shards: int = 2) -> RunSettings:
    return RunSettings.model_validate({"loadtest": {"target": "cluster", "cluster": {
        "context": "fake", "namespace": "loadtest", "shards": shards, "start_lead_s": 4.0}}})


USAGE = GeneratorUsage(0.1, None)  # the generator's CPU does not enter the audit's verdict here
BUILT = BuiltService(bento=IMAGE, model="standin", variant="onnx-int8", batching={}, workers=1, threads=1)


def run_in_cluster(params: RunSettings, log: Path) -> pd.DataFrame:
    return cluster_served_run(RunSpec("optimized", BUILT, params, "s", SCENARIO, TEXTS, 3, log), "optimized").records


@pytest.mark.e2e  # 16 s: make test-e2e runs it (make test is near its 10 min)
def test_two_generator_pods_merge_into_one_run_and_leave_nothing(fake_cluster: Path, tmp_path: Path) -> None:
    records = run_in_cluster(cluster_params(), tmp_path / "run.log")
    schedule = draw_schedule(arrival_spec(SCENARIO))
    assert records["index"].tolist() == list(range(len(schedule)))  # scheduled = recorded, in schedule order
    np.testing.assert_allclose(records["scheduled_s"], schedule)
    assert (records["outcome"] == "ok").all()
    summary = scenario_summary(records, USAGE, "s", SCENARIO, parse_params(Params, {}).loadgen)
    # Send lag is timing (the quiet agreement test holds it); what holds on a busy machine is the accounting.
    assert summary.requests.scheduled == len(schedule) and summary.outcomes["lost"] == 0
    calls = [json.loads(line) for line in (fake_cluster / "calls.jsonl").read_text().splitlines()]
    aimed = [call for call in calls if call[1:3] != ["config", "get-contexts"]]
    assert all(call[1:5] == ["--context", "fake", "--namespace", "loadtest"] for call in aimed)
    state = json.loads((fake_cluster / "state.json").read_text())
    assert not any(state[kind] for kind in ("deployments", "services", "configmaps", "jobs", "policies"))  # all deleted
    shards = (tmp_path / "run.log").read_text().splitlines()
    assert len(shards) == 2 and all("'lead_s'" in line for line in shards)  # each pod's clock readings


@pytest.mark.benchmark
def test_the_cluster_run_measures_what_a_local_run_of_the_same_schedule_does(fake_cluster: Path, tmp_path: Path,
                                                                            timing_record: Timing) -> None:
    """Latency percentiles within the client agreement test's tolerance (10 % + 1 ms) of one local process."""
    clustered = run_in_cluster(cluster_params(), tmp_path / "run.log")
    port = free_port()
    server = start_null_server(port)
    try:
        local, _ = send_scenario(f"http://127.0.0.1:{port}/serial?ms={SERVICE_MS}", SCENARIO, TEXTS, "aiohttp")
    finally:
        server.terminate()
        server.wait(timeout=10)
    for quantile in (50, 90, 99):
        one, other = (float(np.percentile(run.loc[~run["warmup"], "latency_ms"], quantile))
                      for run in (clustered, local))
        timing_record.figures |= {f"cluster_p{quantile}_ms": one, f"local_p{quantile}_ms": other}
        assert abs(one - other) <= 0.1 * max(one, other) + 1.0, (quantile, one, other)


@pytest.mark.e2e
def test_a_killed_generator_pod_leaves_its_requests_lost_with_the_reason(fake_cluster: Path, tmp_path: Path) -> None:
    params = cluster_params()
    outcome: dict[str, pd.DataFrame] = {}
    worker = threading.Thread(target=lambda: outcome.update(records=run_in_cluster(params, tmp_path / "run.log")))
    worker.start()
    killed = kill_pod_mid_run(fake_cluster, index=1)
    worker.join(timeout=120)
    records = outcome["records"]
    schedule = draw_schedule(arrival_spec(SCENARIO))
    assert records["index"].tolist() == list(range(len(schedule)))  # none missing
    lost = records[records["outcome"] == "lost"]
    assert lost["index"].tolist() == list(range(1, len(schedule), 2))  # pod 1's share, all of it
    assert lost["error"].str.contains(f"generator shard 1 lost: pod {killed} Failed, Killed").all()
    assert (records.loc[records["index"] % 2 == 0, "outcome"] == "ok").all()  # pod 0 went on sending
    summary = scenario_summary(records, USAGE, "s", SCENARIO, parse_params(Params, {}).loadgen)
    assert not summary.audit.valid and summary.outcomes["lost"] == int((~lost["warmup"]).sum())
    assert any("lost with their generator" in reason for reason in summary.audit.reasons)


def kill_pod_mid_run(state_dir: Path, index: int) -> str:
    """Once pod ``index`` has sent for 2 s of its schedule, kill its process group as an OOM kill would; its name."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = json.loads((state_dir / "state.json").read_text()) if (state_dir / "state.json").is_file() else {}
        pods = [(name, pod) for job in state.get("jobs", {}).values() for name, pod in job["pods"].items()
                if pod["index"] == index]
        lead = re.search(r"requests from ([+-][0-9.]+) s", (state_dir / f"pod-{pods[0][0]}.log").read_text()
                         if pods else "")
        if lead:  # the pod's own count to the common start (late on a busy machine), then 2 s of sending
            time.sleep(max(float(lead.group(1)), 0.0) + 2.0)
            os.killpg(pods[0][1]["pid"], signal.SIGKILL)
            return str(pods[0][0])
        time.sleep(0.2)
    raise AssertionError("the generator pod never started")


def test_shard_logs_reject_truncated_and_damaged_copies() -> None:
    records = RunRecorder(np.array([0.0, 0.1]), [0, 2]).frame(0.0)
    summary = scenario_summary(records, USAGE, "s", SCENARIO, parse_params(Params, {}).loadgen, 2)
    lines = encode(ShardResult(records, summary, {"index": 0}))
    log = "progress line\n" + "\n".join(lines) + "\n"
    decoded = decode(log)
    pd.testing.assert_frame_equal(decoded.records, records)
    assert decoded.clock == {"index": 0}
    with pytest.raises(ShardLogError, match="truncated"):
        decode("\n".join(lines[:-2]))
    damaged = [*lines[:1], lines[1][:-1] + ("A" if lines[1][-1] != "A" else "B"), *lines[2:]]
    with pytest.raises(ShardLogError, match="checksum"):
        decode("\n".join(damaged))
    with pytest.raises(ShardLogError, match="no records"):
        decode("the pod was OOM-killed before it printed anything\n")


def test_the_run_manifests_validate_strictly_on_every_supported_version() -> None:
    params = cluster_params(shards=3)
    run = served_objects(params.k3s, params.loadtest.cluster, "sb-optimized-abc123",
                         ServedImage(IMAGE, "1", 30.0), "/classify")
    job = generator_job(params.loadtest.cluster, params.k3s, "sb-optimized-abc123", run.url, 40.0)
    policy = generator_policy(params.loadtest.cluster, params.k3s, "sb-optimized-abc123")
    validate([*run.served, policy, job], supported_versions(params.k3s.min_kubernetes_version))
    assert [item["kind"] for item in run.served] == ["NetworkPolicy", "Deployment", "Service"]
    assert run.served[1]["spec"]["replicas"] == params.loadtest.cluster.served.replicas
    assert policy["spec"]["ingress"] == [] and len(policy["spec"]["egress"]) == 2  # the Service's pods and DNS only
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimitPerIndex"] == 0  # a failed pod neither restarts nor fails the others
    container = spec["template"]["spec"]["containers"][0]
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"name": "SERVEBENCH_URL", "value": "http://sb-optimized-abc123.loadtest.svc:3000/classify"} in \
        container["env"]


def test_cluster_mode_needs_a_context_and_refuses_one_the_kubeconfig_lacks(fake_cluster: Path, tmp_path: Path
                                                                          ) -> None:
    with pytest.raises(ValueError, match=r"loadtest\.cluster\.context"):
        RunSettings.model_validate({"loadtest": {"target": "cluster"}})
    params = RunSettings.model_validate({"loadtest": {"target": "cluster", "cluster": {"context": "prod"}}})
    with pytest.raises(Exception, match="context 'prod' is not in the kubeconfig"):
        run_in_cluster(params, tmp_path / "run.log")
    assert "apply" not in (fake_cluster / "calls.jsonl").read_text()  # refused before anything was created


@pytest.mark.e2e
def test_the_loadtest_stage_runs_its_blocks_in_the_fake_cluster(fake_cluster: Path, tmp_path: Path,
                                                                 built: dict[str, Any], small_dataset: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m stages.loadtest`` with ``loadtest.target: cluster``: each run a fresh Deployment (here a real
    ``bentoml serve`` of the stand-in Bento) and 2 generator pods; blocks, runs.json and records as locally."""
    services = built["bentos"]["services"]
    monkeypatch.setenv("BENTOML_HOME", str(built["home"]))
    state = json.loads((fake_cluster / "state.json").read_text())
    write_state(fake_cluster, state | {"images": {
        service["bento"]: [sys.executable, "-m", "bentoml", "serve", service["bento"], "--host", "127.0.0.1",
                           "--port", "{port}"] for service in services.values()}})
    scenario = {"process": "exponential", "rate": 8.0, "duration_s": 5.0, "seed": 4, "warmup_s": 1.0}
    params = write_params(tmp_path / "params.yaml", {
        "loadgen": {"scenarios": {"s": scenario}},
        "loadtest": {"scenarios": ["s"], "repeats": 2, "aa": {"service": None}, "warmup_requests": 3,
                     "target": "cluster", "cluster": {"context": "fake", "namespace": "loadtest", "shards": 2,
                                                      "start_lead_s": 3.0, "rollout_timeout_s": 120}}})
    out = tmp_path / "out"
    result = run_module("stages.loadtest", "--scenario", "s", "--params", str(params), "--bentos",
                        str(built["root"] / "bentos.json"), "--dataset", str(small_dataset), "--capacity",
                        str(tmp_path / "no-capacity.json"), "--logs", str(tmp_path / "logs"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads((out / "runs.json").read_text())["runs"]
    # Every block ran each arm; whether a run passed the generator's audit is the audit's call (on a busy machine
    # a run can fail it and be rerun), so validity is not asserted here.
    assert sorted({(run["service"], run["repeat"]) for run in runs}) == [
        ("baseline", 0), ("baseline", 1), ("optimized", 0), ("optimized", 1)]
    schedule = draw_schedule(arrival_spec(ScenarioParams.model_validate(scenario)))
    for run in runs:
        records = pd.read_parquet(out / run["path"] / "records.parquet")
        assert records["index"].tolist() == list(range(len(schedule)))
        assert (records["outcome"] == "ok").all()
    assert result.stderr.count("2 generator pods, common start") == len(runs)
    state = json.loads((fake_cluster / "state.json").read_text())
    assert not state["deployments"] and not state["jobs"]


RUN_UNTIL_SIGNALLED = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_cluster_loadtest import cluster_params, run_in_cluster
from stages.experiment.signals import cleanup_on_signals
with cleanup_on_signals():
    run_in_cluster(cluster_params(), Path({log!r}))
"""


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_run_deletes_what_it_created(fake_cluster: Path, tmp_path: Path, sig: signal.Signals) -> None:
    script = RUN_UNTIL_SIGNALLED.format(tests=str(Path(__file__).parent), log=str(tmp_path / "run.log"))
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and '"jobs": {"' not in read_state(fake_cluster):
        time.sleep(0.2)
    assert '"jobs": {"' in read_state(fake_cluster), "the run never started its generator Job"
    process.send_signal(sig)
    assert process.wait(timeout=60) == 128 + sig
    state = json.loads(read_state(fake_cluster))
    assert not any(state[kind] for kind in ("deployments", "services", "configmaps", "jobs", "policies"))


def read_state(state_dir: Path) -> str:
    path = state_dir / "state.json"
    return path.read_text() if path.is_file() else "{}"


def test_the_generator_image_holds_every_module_its_pod_imports() -> None:
    """k3s/Containerfile.loadgen copies whole packages: each file ``python -m stages.cluster.pod`` imports must
    lie in one of them (the image has no other source of the code)."""
    copied = [line.split()[1] for line in (REPO_ROOT / "k3s" / "Containerfile.loadgen").read_text().splitlines()
              if line.startswith("COPY stages")]
    needed = {str(path.relative_to(REPO_ROOT)) for path in with_packages(import_closure(["stages.cluster.pod"]))}
    missing = sorted(path for path in needed if not any(path == item or path.startswith(item.rstrip("/") + "/")
                                                        for item in copied))
    assert missing == []
