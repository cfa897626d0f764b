"""The Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler of one served Bento.

Built as plain dicts from ``k3s.*`` params (no template language: the objects are data), and checked with
``kubernetes-validate`` against the schemas of ``k3s.kubernetes_version``, strict (unknown fields rejected).
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from stages.common.errors import ServebenchError
from stages.common.params import K3sParams

BENTOML_WRITES = "/home/bentoml/.cache"  # where a containerized Bento writes at run time (emptyDir)


class ManifestError(ServebenchError):
    """A rendered manifest does not validate against the Kubernetes schemas."""


def _labels(params: K3sParams) -> dict[str, str]:
    return {"app": params.name, "app.kubernetes.io/part-of": "servebench"}


def _probe(path: str, period_s: int, failure_threshold: int, params: K3sParams) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period_s,
            "timeoutSeconds": params.probes.timeout_s, "failureThreshold": failure_threshold}


def deployment(params: K3sParams, replicas: int) -> dict[str, Any]:
    """Probes sized for model load, resources, graceful shutdown, zero-downtime rollout, locked-down pod."""
    probes = params.probes
    container = {
        "name": "bento",
        "image": params.image,
        "imagePullPolicy": "IfNotPresent",  # imported into K3s' containerd, not pulled
        "ports": [{"name": "http", "containerPort": params.port}],
        "env": [{"name": "BENTOML_DO_NOT_TRACK", "value": "true"}],
        "resources": {"requests": {"cpu": params.cpu_request, "memory": params.memory_request},
                      "limits": {"cpu": params.cpu_limit, "memory": params.memory_limit}},
        "startupProbe": _probe("/readyz", probes.startup_period_s, probes.startup_failure_threshold, params),
        "readinessProbe": _probe("/readyz", probes.readiness_period_s, probes.failure_threshold, params),
        "livenessProbe": _probe("/livez", probes.liveness_period_s, probes.failure_threshold, params),
        # The endpoint leaves the Service while the pod still serves; then SIGTERM lets in-flight requests end.
        "lifecycle": {"preStop": {"sleep": {"seconds": params.prestop_s}}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "bentoml-cache", "mountPath": BENTOML_WRITES}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": params.name, "namespace": params.namespace, "labels": _labels(params)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": params.name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": _labels(params)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": params.termination_grace_s,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1034, "runAsGroup": 1034, "fsGroup": 1034,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "bentoml-cache", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def service(params: K3sParams) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": params.name, "namespace": params.namespace, "labels": _labels(params)},
            "spec": {"type": "NodePort", "selector": {"app": params.name},
                     "ports": [{"name": "http", "port": params.port, "targetPort": "http",
                                "nodePort": params.node_port}]}}


def disruption_budget(params: K3sParams) -> dict[str, Any]:
    """With two or more replicas, voluntary disruptions (drains) keep one serving. One replica cannot be
    protected without blocking every drain, so its budget allows the eviction and says so by its numbers."""
    budget = {"minAvailable": 1} if params.replicas > 1 else {"maxUnavailable": 1}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": params.name, "namespace": params.namespace, "labels": _labels(params)},
            "spec": {**budget, "selector": {"matchLabels": {"app": params.name}}}}


def autoscaler(params: K3sParams, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": params.name, "namespace": params.namespace, "labels": _labels(params)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": params.name},
                     "minReplicas": replicas, "maxReplicas": max(params.hpa_max_replicas, replicas),
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": params.hpa_cpu_utilization}}}]}}


def namespace(params: K3sParams) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": params.namespace}}


def render(params: K3sParams, replicas: int) -> list[dict[str, Any]]:
    """Every object of one deployment variant, in apply order."""
    scaled = params.model_copy(update={"replicas": replicas})
    return [namespace(scaled), deployment(scaled, replicas), service(scaled), disruption_budget(scaled),
            autoscaler(scaled, replicas)]


def validate(objects: list[dict[str, Any]], version: str) -> None:
    """Strict validation against the pinned Kubernetes schemas; the error names the object and the field."""
    for manifest in objects:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path) or "(top level)"
            raise ManifestError(f"{manifest['kind']} {manifest['metadata']['name']}: {where}: {exc.message}") from None
