"""Does a rollout fit the node? The CPU requests of the most pods that can exist at once, surge included.

The scheduler places a pod only where the requests already placed leave room for its own. During a rolling update
with ``maxUnavailable: 0`` the Deployment first *adds* ``maxSurge`` pods, so the peak is the HPA's ceiling plus the
surge; with the node's system pods' requests on top, that peak must fit the node's allocatable CPU, or the
rollout (and a ``rollout-restart`` disruption) stalls with a Pending pod. A previous sizing (2 x 750m plus a surge
pod = 2,250m) did not fit the 2,000m node it was written for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stages.common.errors import ServebenchError
from stages.params.k3s import K3sParams

MAX_SURGE = 1  # the Deployment's rollingUpdate.maxSurge (render.deployment)


def millicores(quantity: str) -> int:
    """A CPU quantity ("500m", "2", "1.5") in millicores."""
    if quantity.endswith("m"):
        return int(Decimal(quantity[:-1]))
    return int(Decimal(quantity) * 1000)


@dataclass(frozen=True)
class NodeFit:
    node_m: int
    system_m: int
    request_m: int
    peak_pods: int  # the HPA's ceiling (or the fixed count) plus the surge

    @property
    def needed_m(self) -> int:
        return self.peak_pods * self.request_m + self.system_m

    @property
    def fits(self) -> bool:
        return self.needed_m <= self.node_m

    def arithmetic(self) -> str:
        return (f"{self.peak_pods} pods at the rollout's peak x {self.request_m}m + {self.system_m}m of system pods "
                f"= {self.needed_m}m of {self.node_m}m allocatable"
                + ("" if self.fits else " (does NOT fit)"))


def node_fit(params: K3sParams, replicas: int) -> NodeFit:
    ceiling = max(params.hpa_max_replicas, replicas)
    return NodeFit(node_m=millicores(params.node_cpu), system_m=millicores(params.system_cpu_requests),
                   request_m=millicores(params.cpu_request), peak_pods=ceiling + MAX_SURGE)


def require_fit(params: K3sParams, replicas: int) -> NodeFit:
    """The fit of one variant, or an error that says which knob to turn."""
    fit = node_fit(params, replicas)
    if not fit.fits:
        room = (fit.node_m - fit.system_m) // fit.peak_pods
        raise ServebenchError(f"k3s: {fit.arithmetic()}: a rollout would leave a pod Pending. Lower "
                              f"k3s.cpu_request to at most {room}m, or k3s.hpa_max_replicas, or raise k3s.node_cpu")
    return fit
