"""The Kubernetes objects of one cluster load-test run: the arm's Deployment and Service, the generator's
ConfigMap and Indexed Job.

The Deployment and Service are the k3s stage's (:mod:`stages.manifests.render`), named for the run, with the arm's
image and ``loadtest.cluster.served``'s replicas and resources (no autoscaler: a run measures a set number of
replicas). The Job is Indexed:
``completions = parallelism = shards``, pod k gets ``JOB_COMPLETION_INDEX=k`` and sends its slice of the schedule
(:mod:`stages.cluster.pod`). ``backoffLimitPerIndex: 0``: a failed pod is not restarted (it would resend its slice
at the wrong time) and does not fail the other indexes, whose pods keep sending; its requests are recorded as
lost. Every object carries the label ``servebench.io/run`` so that one selector finds what a run left.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

from stages.manifests.render import PART_OF, ServedImage, deployment, network_policy, service
from stages.params.k3s import K3sParams
from stages.params.loadtest import ClusterLoadParams

RUN_LABEL = "servebench.io/run"
RUN_MOUNT = "/etc/servebench/run"
GENERATOR_UID = 10001  # the generator image's user (k3s/Containerfile.loadgen): non-root, above the host's uids
JOB_GRACE_S = 60  # past the last request's timeout before the Job's deadline ends it


@dataclass(frozen=True)
class RunObjects:
    """A run's name (every object's), the Service's in-cluster URL and its objects in apply order."""

    name: str
    url: str
    served: list[dict[str, Any]]


def _labelled(manifest: dict[str, Any], run: str) -> dict[str, Any]:
    manifest["metadata"]["labels"][RUN_LABEL] = run
    return manifest


def served_objects(k3s: K3sParams, cluster: ClusterLoadParams, run: str, served: ServedImage, path: str) -> RunObjects:
    """The arm's NetworkPolicy (ingress to its port only, no egress), Deployment (the k3s stage's pod with
    ``loadtest.cluster.served``'s replicas, CPU and memory) and ClusterIP Service, named ``run``."""
    pod = cluster.served
    settings = k3s.model_copy(update={"name": run, "namespace": cluster.namespace, "service_type": "ClusterIP",
                                      "cpu_request": pod.cpu_request, "cpu_limit": pod.cpu_limit,
                                      "memory_request": pod.memory_request, "memory_limit": pod.memory_limit})
    serving = deployment(settings, served)
    serving["spec"]["replicas"] = pod.replicas
    objects = [_labelled(network_policy(settings, served), run), _labelled(serving, run),
               _labelled(service(settings, served), run)]
    return RunObjects(run, f"http://{run}.{cluster.namespace}.svc:{k3s.port}{path}", objects)


def config_map(cluster: ClusterLoadParams, run: str, files: dict[str, bytes]) -> dict[str, Any]:
    """The run's files for every generator pod (``run.json`` as text, the gzipped bodies as binary data)."""
    text = {name: content.decode() for name, content in files.items() if name.endswith(".json")}
    binary = {name: base64.b64encode(content).decode() for name, content in files.items() if name not in text}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": run, "namespace": cluster.namespace, "labels": _labels(run)},
            "data": text, "binaryData": binary}


def _labels(run: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "servebench-loadgen", "app.kubernetes.io/component": "load-generator",
            "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "servebench-loadtest",
            RUN_LABEL: run}


def generator_job(cluster: ClusterLoadParams, k3s: K3sParams, run: str, url: str, run_seconds: float
                  ) -> dict[str, Any]:
    """The Indexed Job of ``cluster.shards`` generator pods, ended by its deadline ``run_seconds`` (lead, schedule,
    last timeout) plus a grace after creation."""
    pod = cluster.generator
    env = [{"name": "SERVEBENCH_URL", "value": url}, {"name": "SERVEBENCH_RUN_DIR", "value": RUN_MOUNT},
           {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    container = {
        "name": "loadgen",
        "image": cluster.generator_image,
        "imagePullPolicy": k3s.image_pull_policy,
        "command": ["python", "-m", "stages.cluster.pod"],
        "env": env,
        "resources": {"requests": {"cpu": pod.cpu_request, "memory": pod.memory_request},
                      "limits": {"cpu": pod.cpu_limit, "memory": pod.memory_limit}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "run", "mountPath": RUN_MOUNT, "readOnly": True}],
    }
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": run, "namespace": cluster.namespace, "labels": _labels(run)},
        "spec": {
            "completionMode": "Indexed",
            "completions": cluster.shards,
            "parallelism": cluster.shards,
            "backoffLimitPerIndex": 0,
            "activeDeadlineSeconds": math.ceil(run_seconds) + JOB_GRACE_S,
            "template": {
                "metadata": {"labels": _labels(run)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": GENERATOR_UID,
                                        "runAsGroup": GENERATOR_UID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "run", "configMap": {"name": run}}],
                },
            },
        },
    }


def generator_policy(cluster: ClusterLoadParams, k3s: K3sParams, run: str) -> dict[str, Any]:
    """The generator pods take no connections and open only two kinds: to the run's served pods on their port, and
    to DNS (the Service's name)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"{run}-loadgen", "namespace": cluster.namespace, "labels": _labels(run)},
            "spec": {"podSelector": {"matchLabels": _labels(run)}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [],
                     "egress": [{"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": run}}}],
                                 "ports": [{"protocol": "TCP", "port": k3s.port}]},
                                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}}
