"""The ``k3s`` section: the Kubernetes objects of the served Bento."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stages.params.base import PinnedImage, PositiveInt, Quantity, Section


class ProbeParams(Section):
    startup_period_s: PositiveInt = 1  # a cold start takes 2-7 s: polled at that scale, not every 5 s
    startup_failure_threshold: PositiveInt = 300  # 5 min for the model to load
    readiness_period_s: PositiveInt = 5
    liveness_period_s: PositiveInt = 10
    timeout_s: PositiveInt = 3
    failure_threshold: PositiveInt = 3


class K3sParams(Section):
    """The Kubernetes objects of the served Bento, rendered into ``k3s/`` by the k3s stage.

    Sizing rule (stages/manifests/sizing.py, checked when rendering): the most pods that can exist at once (the
    HPA's ceiling plus the rollout's surge pod; a cluster load test's served and generator pods) with the system
    pods' requests must fit ``node_cpu`` and ``node_memory``. On a 2-core single-node K3s: (2 + 1) x 500m + 200m =
    1,700m of 2,000m CPU. The CPU limit stays at the node's size so a lone replica can use both cores.
    """

    # null: the optimized Bento's own tag from results/bentos.json, which `bentoml containerize` gives the image.
    image: PinnedImage | None = None
    # Never: an image imported into K3s (`k3s ctr images import`) that was garbage-collected fails loudly
    # (ErrImageNeverPull) instead of being pulled from a public registry by surprise.
    image_pull_policy: Literal["Never", "IfNotPresent", "Always"] = "Never"
    namespace: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "servebench"
    name: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "servebench-optimized"
    replicas: PositiveInt = 1  # the HPA's minimum (the Deployment carries no replicas: the HPA owns them)
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    # ClusterIP: reachable inside the cluster and from the node itself, nowhere else. NodePort (the study's) opens
    # node_port on every node address to any source: k3s/README.md says how to keep it on loopback.
    service_type: Literal["NodePort", "ClusterIP"] = "ClusterIP"
    node_port: Annotated[int, Field(ge=30000, le=32767)] = 30080
    cpu_request: Quantity = "500m"
    cpu_limit: Quantity = "2"
    node_cpu: Quantity = "2"  # the node's allocatable CPU the pods must fit on (kubectl describe node)
    system_cpu_requests: Quantity = "200m"  # K3s's own pods' requests on it: CoreDNS 100m, metrics-server 100m
    node_memory: Quantity = "4Gi"  # the node's allocatable memory the pods must fit in (kubectl describe node)
    system_memory_requests: Quantity = "140Mi"  # K3s's own pods' requests: CoreDNS 70Mi, metrics-server 70Mi
    memory_request: Quantity = "1Gi"
    memory_limit: Quantity = "2Gi"
    ephemeral_storage_request: Quantity = "256Mi"
    ephemeral_storage_limit: Quantity = "1Gi"
    run_as_user: Annotated[int, Field(ge=1)] = 1034  # the `bentoml` user of BentoML's container images
    probes: ProbeParams = ProbeParams()
    # preStop keeps the pod serving while its endpoint leaves the Service; the grace period is preStop plus the
    # served timeout (serve.optimized.timeout_s) plus a margin, so in-flight requests end before SIGKILL.
    prestop_s: Annotated[int, Field(ge=1)] = 5
    hpa_max_replicas: PositiveInt = 2  # with the surge pod, 3 x cpu_request must fit next to the system pods
    hpa_cpu_utilization: Annotated[int, Field(ge=1, le=100)] = 70
    # The oldest Kubernetes the manifests need (lifecycle.preStop.sleep is on by default from 1.30); they are
    # validated against every version from it to the newest kubernetes-validate knows.
    min_kubernetes_version: Annotated[str, Field(pattern=r"^1\.[0-9]+\.0$")] = "1.30.0"
