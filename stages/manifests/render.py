"""The Namespace, Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy of one
served Bento.

Built as plain dicts from ``k3s.*`` params (no template language: the objects are data), and checked with
``kubernetes-validate`` strictly (unknown fields rejected) against every Kubernetes version from
``k3s.min_kubernetes_version`` to the newest it knows. The pod is locked down for Pod Security "restricted"
(non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp); everything BentoML writes at run
time goes to ``emptyDir`` volumes (``tests/test_pod_sandbox.py`` runs the Bento under those constraints).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
from kubernetes_validate import utils as kubernetes_versions

from stages.common.errors import ServebenchError
from stages.params.k3s import K3sParams

# Writable paths of the read-only pod (emptyDir each): BentoML's home (it creates bentos/, models/, envs/, tmp/
# and the Prometheus multiprocess directory under it at start) and /tmp.
BENTOML_HOME = "/var/run/bentoml"
TMP = "/tmp"
GRACE_MARGIN_S = 5
PART_OF = "servebench"


class ManifestError(ServebenchError):
    """A rendered manifest does not validate against the Kubernetes schemas."""


@dataclass(frozen=True)
class ServedImage:
    """What the manifests serve: the image (tagged like the Bento), its version, and the service's timeout."""

    image: str
    version: str
    timeout_s: float


def _selector(params: K3sParams) -> dict[str, str]:
    return {"app.kubernetes.io/name": params.name, "app.kubernetes.io/instance": params.name}


def _labels(params: K3sParams, served: ServedImage) -> dict[str, str]:
    return {**_selector(params), "app.kubernetes.io/version": served.version[:63],
            "app.kubernetes.io/component": "inference-server", "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "servebench-k3s-stage"}


def _metadata(params: K3sParams, served: ServedImage) -> dict[str, Any]:
    return {"name": params.name, "namespace": params.namespace, "labels": _labels(params, served)}


def _probe(path: str, period_s: int, failure_threshold: int, params: K3sParams) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period_s,
            "timeoutSeconds": params.probes.timeout_s, "failureThreshold": failure_threshold}


def termination_grace_s(params: K3sParams, served: ServedImage) -> int:
    """preStop, then the longest request the service may still be serving, then a margin."""
    return params.prestop_s + math.ceil(served.timeout_s) + GRACE_MARGIN_S


def deployment(params: K3sParams, served: ServedImage) -> dict[str, Any]:
    """Probes sized for model load, resources, graceful shutdown, zero-downtime rollout, locked-down pod. No
    ``replicas``: the HorizontalPodAutoscaler owns the count (an applied manifest would fight it)."""
    probes = params.probes
    container = {
        "name": "bento",
        "image": served.image,
        "imagePullPolicy": params.image_pull_policy,
        "ports": [{"name": "http", "containerPort": params.port}],
        "env": [{"name": "BENTOML_DO_NOT_TRACK", "value": "true"}, {"name": "BENTOML_HOME", "value": BENTOML_HOME},
                {"name": "TMPDIR", "value": TMP}],
        "resources": {"requests": {"cpu": params.cpu_request, "memory": params.memory_request,
                                   "ephemeral-storage": params.ephemeral_storage_request},
                      "limits": {"cpu": params.cpu_limit, "memory": params.memory_limit,
                                 "ephemeral-storage": params.ephemeral_storage_limit}},
        "startupProbe": _probe("/readyz", probes.startup_period_s, probes.startup_failure_threshold, params),
        "readinessProbe": _probe("/readyz", probes.readiness_period_s, probes.failure_threshold, params),
        "livenessProbe": _probe("/livez", probes.liveness_period_s, probes.failure_threshold, params),
        # The endpoint leaves the Service while the pod still serves; then SIGTERM lets in-flight requests end.
        "lifecycle": {"preStop": {"sleep": {"seconds": params.prestop_s}}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "bentoml-home", "mountPath": BENTOML_HOME}, {"name": "tmp", "mountPath": TMP}],
    }
    scratch = {"sizeLimit": params.ephemeral_storage_limit}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _metadata(params, served),
        "spec": {
            "selector": {"matchLabels": _selector(params)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": _labels(params, served)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": termination_grace_s(params, served),
                    "securityContext": {"runAsNonRoot": True, "runAsUser": params.run_as_user,
                                        "runAsGroup": params.run_as_user, "fsGroup": params.run_as_user,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    # Replicas on different nodes where there are several; one node schedules them anyway.
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": _selector(params)}}],
                    "containers": [container],
                    "volumes": [{"name": "bentoml-home", "emptyDir": scratch}, {"name": "tmp", "emptyDir": scratch}],
                },
            },
        },
    }


def service(params: K3sParams, served: ServedImage) -> dict[str, Any]:
    port = {"name": "http", "port": params.port, "targetPort": "http"}
    if params.service_type == "NodePort":
        port["nodePort"] = params.node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(params, served),
            "spec": {"type": params.service_type, "selector": _selector(params), "ports": [port]}}


def disruption_budget(params: K3sParams, served: ServedImage) -> dict[str, Any]:
    """Voluntary disruptions (evictions, drains) keep one pod serving at every replica count. With one replica
    the Eviction API refuses (429) and a node drain waits until the Deployment is scaled up or the pod deleted:
    a measured service is never taken down unseen by a drain (a delete is a deliberate outage, not an eviction)."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _metadata(params, served),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": _selector(params)}}}


def autoscaler(params: K3sParams, served: ServedImage, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _metadata(params, served),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": params.name},
                     "minReplicas": replicas, "maxReplicas": max(params.hpa_max_replicas, replicas),
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": params.hpa_cpu_utilization}}}]}}


def network_policy(params: K3sParams, served: ServedImage) -> dict[str, Any]:
    """Ingress to the HTTP port only; no egress at all (the model is in the image: nothing to fetch)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _metadata(params, served),
            "spec": {"podSelector": {"matchLabels": _selector(params)}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"ports": [{"protocol": "TCP", "port": params.port}]}], "egress": []}}


def namespace(params: K3sParams) -> dict[str, Any]:
    """Pod Security "restricted" enforced for the namespace (and warned/audited at the same level)."""
    version = "v" + params.min_kubernetes_version.rsplit(".", 1)[0]
    levels = {f"pod-security.kubernetes.io/{mode}{suffix}": value
              for mode in ("enforce", "audit", "warn")
              for suffix, value in (("", "restricted"), ("-version", version))}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": params.namespace, "labels": {"app.kubernetes.io/part-of": PART_OF, **levels}}}


def render(params: K3sParams, served: ServedImage, replicas: int) -> list[dict[str, Any]]:
    """Every object of one deployment variant, in apply order."""
    return [namespace(params), network_policy(params, served), deployment(params, served), service(params, served),
            disruption_budget(params, served), autoscaler(params, served, replicas)]


def supported_versions(minimum: str) -> list[str]:
    """Every Kubernetes version kubernetes-validate has schemas for, from ``minimum`` to the newest."""
    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))
    known = sorted(set(kubernetes_versions.all_versions()), key=key)
    return [version for version in known if key(version) >= key(minimum)]


def validate(objects: list[dict[str, Any]], versions: list[str]) -> None:
    """Strict validation against each version's schemas; the error names the version, object and field."""
    if not versions:
        raise ManifestError("no Kubernetes version to validate against (k3s.min_kubernetes_version too new?)")
    for version in versions:
        for manifest in objects:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(part) for part in exc.path) or "(top level)"
                raise ManifestError(f"Kubernetes {version}: {manifest['kind']} {manifest['metadata']['name']}: "
                                    f"{where}: {exc.message}") from None
