"""One measured run in a cluster: deploy the arm fresh, send the scenario from an Indexed Job, collect, delete.

The cluster counterpart of :func:`stages.serving.runs.served_run`, returning the same :class:`ServedRun`, so the
loadtest stage's blocks, seeded order, reruns, audit and compare are the local ones. Per run: a Deployment of the
arm's image (``k3s.replicas`` replicas) and a ClusterIP Service, named for the run; the rollout awaited; the
server's ``/metrics`` read through the API server's Service proxy (the workspace need not reach the Service);
a ConfigMap with the request bodies and the run's settings and an Indexed Job of ``loadtest.cluster.shards``
generator pods, all handed one start instant; every pod's log read back, each shard decoded and the shards merged
into one run. A pod that never started, died, or left no intact records leaves its requests in the run as
``lost``, with the reason, and the run fails its audit (so the loadtest stage reruns it). Whatever the run created
is deleted when it ends, also on SIGINT and SIGTERM (``kubectl delete ... -l servebench.io/run=<run>`` removes
what a SIGKILL left).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from stages.cluster.pod import BODIES_FILE, RUN_FILE, WARMUP_FILE, GeneratorRun, pack_bodies
from stages.cluster.shard_log import ShardLogError, ShardResult, decode
from stages.common.artifacts import CLASSIFY
from stages.common.errors import ServebenchError
from stages.common.kubectl import Kubectl, KubectlError
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import LOST, GeneratorUsage, RunRecorder, StopRule
from stages.loadgen.payloads import arrival_spec, request_bodies
from stages.loadgen.shards import merge_runs
from stages.manifests.generator import (
    JOB_GRACE_S,
    RUN_LABEL,
    config_map,
    generator_job,
    generator_policy,
    served_objects,
)
from stages.manifests.render import ServedImage
from stages.manifests.sizing import require_loadtest_fit
from stages.params.loadgen import ScenarioParams
from stages.serving.metrics import TIMELINE_COLUMNS, delta, parse_metrics
from stages.serving.runs import RunSettings, RunSpec, ServedRun, served_run

logger = logging.getLogger(__name__)

POLL_S = 2.0
CONFIG_MAP_LIMIT = 1_000_000  # bytes a ConfigMap may hold (etcd's object limit is 1 MiB), with room for metadata
DELETE_TIMEOUT_S = 180
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass(frozen=True)
class Shard:
    """One generator pod's part of a run: what it sent back, or why nothing came."""

    index: int
    result: ShardResult | None
    lost_reason: str | None = None


def run_name(arm: str) -> str:
    """A fresh name per run (DNS-1035, < 64 characters): objects of a killed run never collide with the next."""
    return f"sb-{arm}-{secrets.token_hex(3)}"[:52]


def apply(kubectl: Kubectl, objects: list[dict]) -> None:
    kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump_all(objects, sort_keys=False))


def delete_run(kubectl: Kubectl, name: str) -> None:
    """Everything of the run, pods included (foreground: the next run does not share the node with them)."""
    kubectl.run("delete", f"job/{name}", f"configmap/{name}", f"deployment/{name}", f"service/{name}",
                f"networkpolicy/{name}", f"networkpolicy/{name}-loadgen", "--ignore-not-found", "--cascade=foreground",
                "--wait=true", timeout_s=DELETE_TIMEOUT_S)


@contextlib.contextmanager
def deleted_on_exit(kubectl: Kubectl, name: str) -> Iterator[None]:
    try:
        yield
    finally:
        try:
            delete_run(kubectl, name)
        except KubectlError as exc:
            logger.info(f"loadtest: could not delete run {name}: {exc}; remove it with kubectl --context "
                        f"{kubectl.context} -n {kubectl.namespace} delete all,configmap,job,networkpolicy "
                        f"-l {RUN_LABEL}={name}")


def metrics(kubectl: Kubectl, name: str, port_name: str = "http") -> dict[str, float]:
    """The server's /metrics through the API server's Service proxy; empty when it cannot be read."""
    try:
        return parse_metrics(kubectl.run(
            "get", "--raw", f"/api/v1/namespaces/{kubectl.namespace}/services/{name}:{port_name}/proxy/metrics"))
    except KubectlError:
        return {}


def pod_state(pod: dict | None) -> str:
    """Why a pod sent nothing back, in a few words: its phase and its container's end."""
    if pod is None:
        return "the pod never started"
    status = pod.get("status", {})
    ends = [container.get("state", {}).get("terminated") or {} for container in status.get("containerStatuses", [])]
    end = ", ".join(f"{end.get('reason', 'terminated')} (exit {end.get('exitCode')})" for end in ends if end)
    return f"pod {pod['metadata']['name']} {status.get('phase', 'Unknown')}" + (f", {end}" if end else "")


def wait_for_job(kubectl: Kubectl, name: str, shards: int, deadline: float) -> None:
    """Until every index has ended (succeeded or failed) or the deadline passes."""
    while time.time() < deadline:
        status = kubectl.json("get", f"job/{name}").get("status", {})
        if status.get("succeeded", 0) + status.get("failed", 0) >= shards:
            return
        time.sleep(POLL_S)


def collect(kubectl: Kubectl, name: str, shards: int) -> list[Shard]:
    """Each index's shard, read from its pod's log; an index without a pod or without intact records is lost."""
    pods = {int(pod["metadata"].get("annotations", {}).get(INDEX_ANNOTATION, -1)): pod
            for pod in kubectl.json("get", "pods", "-l", f"job-name={name}").get("items", [])}
    collected = []
    for index in range(shards):
        pod = pods.get(index)
        if pod is None:
            collected.append(Shard(index, None, pod_state(None)))
            continue
        try:
            collected.append(Shard(index, decode(kubectl.run("logs", pod["metadata"]["name"]))))
        except (KubectlError, ShardLogError) as exc:
            collected.append(Shard(index, None, f"{pod_state(pod)}: {exc}"))
    return collected


def lost_records(schedule: np.ndarray, index: int, shards: int, warmup_s: float, reason: str) -> pd.DataFrame:
    """A lost shard's rows: every request it held, outcome ``lost``, the reason as its error."""
    rows = np.arange(index, len(schedule), shards)
    recorder = RunRecorder(schedule[rows], rows.tolist())
    recorder.outcome[:] = LOST
    recorder.error = dict.fromkeys(range(len(rows)), f"generator shard {index} lost: {reason}")
    return recorder.frame(warmup_s)


def merge_shards(collected: list[Shard], schedule: np.ndarray, warmup_s: float
                 ) -> tuple[pd.DataFrame, GeneratorUsage, list[str]]:
    """One run from its shards, the lost ones included; the reasons shards were lost."""
    frames, usages, lost = [], [], []
    for shard in collected:
        if shard.result is None:
            frames.append(lost_records(schedule, shard.index, len(collected), warmup_s, shard.lost_reason or ""))
            lost.append(f"generator shard {shard.index} lost: {shard.lost_reason}")
            continue
        frames.append(shard.result.records)
        cpu = shard.result.summary.audit.generator_cpu
        usages.append(GeneratorUsage(cpu.cpu, cpu.idle_wait, cpu.stolen))
    records, usage = merge_runs(frames, usages or [GeneratorUsage(0.0, None)])
    return records, usage, lost


def generator_files(params: RunSettings, scenario: str, settings: ScenarioParams, texts: list[str], requests: int,
                    warmup_requests: int, start_at: float) -> dict[str, bytes]:
    """The ConfigMap's files: the run's settings, and the request and warm-up bodies encoded as a local run
    encodes them (same seed, same texts); refused when they would not fit a ConfigMap."""
    run = GeneratorRun(scenario=scenario, settings=settings, loadgen=params.loadgen,
                       shards=params.loadtest.cluster.shards, start_at=start_at)
    files = {RUN_FILE: run.model_dump_json().encode(),
             BODIES_FILE: pack_bodies(request_bodies(texts, requests, settings.texts_per_request, settings.seed)),
             WARMUP_FILE: json.dumps(texts[:warmup_requests]).encode()}
    size = sum(len(content) * 4 // 3 for content in files.values())
    if size > CONFIG_MAP_LIMIT:
        raise ServebenchError(f"loadgen.scenarios.{scenario}: its {requests} request bodies take {size:,} bytes, more "
                              f"than a ConfigMap holds ({CONFIG_MAP_LIMIT:,}): send fewer requests per run")
    return files


def cluster_served_run(spec: RunSpec, arm: str) -> ServedRun:
    """One run of the spec's scenario against a fresh Deployment of its Bento's image, warmed up with its
    sequential requests and sent from the cluster; ``arm`` names the run's objects."""
    params, settings, texts, log = spec.params, spec.scenario, spec.texts, spec.log
    built, scenario, warmup_requests = spec.built, spec.scenario_name, spec.warmup_requests
    cluster = params.loadtest.cluster
    kubectl = Kubectl(cluster.context, cluster.namespace, "loadtest.cluster")
    kubectl.require_context()
    name = run_name(arm)
    served = ServedImage(built.bento, built.bento.split(":")[-1], getattr(params.serve, spec.service).timeout_s)
    require_loadtest_fit(params.k3s, cluster)  # no pod of the run left Pending on a node too small for it
    objects = served_objects(params.k3s, cluster, name, served, CLASSIFY)
    schedule = draw_schedule(arrival_spec(settings))
    log.parent.mkdir(parents=True, exist_ok=True)
    with deleted_on_exit(kubectl, name), log.open("a") as journal:
        deployed = time.monotonic()
        apply(kubectl, objects.served)
        kubectl.run("rollout", "status", f"deployment/{name}", f"--timeout={cluster.rollout_timeout_s}s",
                    timeout_s=cluster.rollout_timeout_s + 30)
        ready_after_s = time.monotonic() - deployed
        before = metrics(kubectl, name)
        start_at = time.time() + cluster.start_lead_s
        files = generator_files(params, scenario, settings, texts, len(schedule), warmup_requests, start_at)
        last_answer_s = cluster.start_lead_s + float(schedule[-1]) + settings.timeout_s
        apply(kubectl, [generator_policy(cluster, params.k3s, name), config_map(cluster, name, files),
                        generator_job(cluster, params.k3s, name, objects.url, last_answer_s)])
        logger.info(f"loadtest: {name}: {cluster.shards} generator pods, common start "
                    f"{time.strftime('%H:%M:%S', time.localtime(start_at))}")
        wait_for_job(kubectl, name, cluster.shards, time.time() + last_answer_s + JOB_GRACE_S)
        collected = collect(kubectl, name, cluster.shards)
        after = metrics(kubectl, name)
        for shard in collected:
            journal.write(f"{name} shard {shard.index}: "
                          f"{shard.result.clock if shard.result else shard.lost_reason}\n")
    records, usage, lost = merge_shards(collected, schedule, settings.warmup_s)
    for reason in lost:
        logger.info(f"loadtest: {name}: {reason}")
    # No batch timeline: /metrics is read through the API server twice, not polled during the run.
    return ServedRun(records, usage, delta(before, after), pd.DataFrame(columns=TIMELINE_COLUMNS), ready_after_s)


def run_on_target(spec: RunSpec, arm: str, home: Path, scrape_interval_s: float, stop_when: StopRule | None = None
                  ) -> ServedRun:
    """One fresh-server run wherever ``loadtest.target`` serves, the system under test behind one call (as MLPerf
    LoadGen puts it behind one interface): a local ``bentoml serve`` from the store in ``home`` (stopping early
    when ``stop_when`` says the outcome is known), or a Deployment and generator pods in the cluster."""
    if spec.params.loadtest.target == "cluster":
        return cluster_served_run(spec, arm)
    return served_run(spec, home, scrape_interval_s, stop_when)
