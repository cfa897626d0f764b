"""Does it fit the node? The CPU and memory requests of the most pods that can exist at once.

The scheduler places a pod only where the requests already placed leave room for its own, CPU and memory alike.
During a rolling update with ``maxUnavailable: 0`` the Deployment first *adds* ``maxSurge`` pods, so the peak is
the HPA's ceiling plus the surge; a cluster load test runs its served replicas and its generator pods together.
With the node's system pods' requests on top, each must fit the node's allocatable CPU and memory, or a pod stays
Pending: the rollout (and a ``rollout-restart`` disruption) stalls, or the load test's generators start late. A
previous sizing (2 x 750m plus a surge pod = 2,250m) did not fit the 2,000m node it was written for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from stages.common.errors import ServebenchError
from stages.params.k3s import K3sParams
from stages.params.loadtest import ClusterLoadParams

MAX_SURGE = 1  # the Deployment's rollingUpdate.maxSurge (render.deployment)
MIB = 2**20
SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
            "Ti": 2**40}


def millicores(quantity: str) -> int:
    """A CPU quantity ("500m", "2", "1.5") in millicores."""
    if quantity.endswith("m"):
        return int(Decimal(quantity[:-1]))
    return int(Decimal(quantity) * 1000)


def quantity_bytes(quantity: str) -> int:
    """A memory quantity ("1Gi", "256Mi", "1G", "1048576") in bytes."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", quantity)
    if match is None or match.group(2) not in SUFFIXES:
        raise ServebenchError(f"{quantity!r} is not a memory quantity (e.g. 512Mi, 2Gi)")
    return int(Decimal(match.group(1)) * SUFFIXES[match.group(2)])


@dataclass(frozen=True)
class PodGroup:
    """``count`` pods of one kind, each requesting ``cpu_m`` millicores and ``memory_b`` bytes."""

    what: str
    count: int
    cpu_m: int
    memory_b: int


@dataclass(frozen=True)
class NodeFit:
    node_cpu_m: int
    node_memory_b: int
    system_cpu_m: int
    system_memory_b: int
    groups: tuple[PodGroup, ...]

    @property
    def needed_cpu_m(self) -> int:
        return sum(group.count * group.cpu_m for group in self.groups) + self.system_cpu_m

    @property
    def needed_memory_b(self) -> int:
        return sum(group.count * group.memory_b for group in self.groups) + self.system_memory_b

    @property
    def fits_cpu(self) -> bool:
        return self.needed_cpu_m <= self.node_cpu_m

    @property
    def fits_memory(self) -> bool:
        return self.needed_memory_b <= self.node_memory_b

    @property
    def fits(self) -> bool:
        return self.fits_cpu and self.fits_memory

    def arithmetic(self) -> str:
        cpu = " + ".join(f"{group.count} {group.what} x {group.cpu_m}m" for group in self.groups)
        memory = " + ".join(f"{group.count} x {group.memory_b / MIB:,.0f}Mi" for group in self.groups)
        return (f"CPU {cpu} + {self.system_cpu_m}m of system pods = {self.needed_cpu_m}m of {self.node_cpu_m}m "
                f"allocatable{'' if self.fits_cpu else ' (does NOT fit)'}; memory {memory} + "
                f"{self.system_memory_b / MIB:,.0f}Mi = {self.needed_memory_b / MIB:,.0f}Mi of "
                f"{self.node_memory_b / MIB:,.0f}Mi{'' if self.fits_memory else ' (does NOT fit)'}")


def _on_node(params: K3sParams, groups: tuple[PodGroup, ...]) -> NodeFit:
    return NodeFit(node_cpu_m=millicores(params.node_cpu), node_memory_b=quantity_bytes(params.node_memory),
                   system_cpu_m=millicores(params.system_cpu_requests),
                   system_memory_b=quantity_bytes(params.system_memory_requests), groups=groups)


def rollout_fit(params: K3sParams, replicas: int) -> NodeFit:
    """The served Deployment at a rollout's peak: the HPA's ceiling (or the fixed count) plus the surge."""
    peak = max(params.hpa_max_replicas, replicas) + MAX_SURGE
    return _on_node(params, (PodGroup("pods at the rollout's peak", peak, millicores(params.cpu_request),
                                      quantity_bytes(params.memory_request)),))


def loadtest_fit(params: K3sParams, cluster: ClusterLoadParams) -> NodeFit:
    """One cluster load-test run: its served replicas and its generator pods, side by side on the node."""
    served, generator = cluster.served, cluster.generator
    return _on_node(params, (
        PodGroup("served pods", served.replicas, millicores(served.cpu_request), quantity_bytes(served.memory_request)),
        PodGroup("generator pods", cluster.shards, millicores(generator.cpu_request),
                 quantity_bytes(generator.memory_request))))


def require_fit(params: K3sParams, replicas: int) -> NodeFit:
    """The fit of one served variant, or an error that says which knob to turn."""
    fit = rollout_fit(params, replicas)
    peak = fit.groups[0].count
    if not fit.fits_cpu:
        room = (fit.node_cpu_m - fit.system_cpu_m) // peak
        raise ServebenchError(f"k3s: {fit.arithmetic()}: a rollout would leave a pod Pending. Lower "
                              f"k3s.cpu_request to at most {room}m, or k3s.hpa_max_replicas, or raise k3s.node_cpu")
    if not fit.fits_memory:
        room = (fit.node_memory_b - fit.system_memory_b) // peak // MIB
        raise ServebenchError(f"k3s: {fit.arithmetic()}: a rollout would leave a pod Pending. Lower "
                              f"k3s.memory_request to at most {room}Mi, or k3s.hpa_max_replicas, or raise "
                              "k3s.node_memory")
    return fit


def require_loadtest_fit(params: K3sParams, cluster: ClusterLoadParams) -> NodeFit:
    """The fit of a cluster load-test run, or an error that names the knobs."""
    fit = loadtest_fit(params, cluster)
    if not fit.fits:
        raise ServebenchError(f"loadtest.cluster: {fit.arithmetic()}: a generator or served pod would stay "
                              "Pending. Lower loadtest.cluster.shards, loadtest.cluster.generator.* or "
                              "loadtest.cluster.served.* requests, or raise k3s.node_cpu / k3s.node_memory")
    return fit
