"""The simulated half of the fake cluster: one Deployment (state["deployment"]) with its ReplicaSets and pods on
one node, a decoy pod of another workload that matches the same labels, pods of other namespaces, each pod's Ready
condition (False for all with ``never_ready``), an HPA, cordoned nodes, the kube-system namespace's UID (the
cluster's identity) and the PodDisruptionBudget's spec as the k3s stage renders it (state["budget"]). When a
disruption leaves the Deployment without a running pod, the Service (state["service"]: the tests' null server)
stalls every request for state["outage_s"] seconds: the load generator sees the outage, so recovery figures come
through the cluster path itself."""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

from fake_api import Call, Cluster

NAMESPACE = "servebench"  # the namespace of every pod that names none (a look-alike elsewhere names its own)


class Controllers:
    """The ReplicaSet, disruption and node controllers, as far as the resilience stage sees them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.state = cluster.state

    def current_rs(self) -> str:
        return next(str(name) for name, rs in self.state["replicasets"].items() if rs["replicas"] > 0)

    def own_pods(self) -> list[str]:
        owners = {rs["uid"] for rs in self.state["replicasets"].values()}
        return sorted(name for name, pod in self.state["pods"].items() if pod["owner"] in owners)

    def settle(self) -> None:
        """The ReplicaSet controller: the current ReplicaSet back to its replica count."""
        rs = self.current_rs()
        uid, replicas = self.state["replicasets"][rs]["uid"], self.state["replicasets"][rs]["replicas"]
        owned = [name for name in self.own_pods() if self.state["pods"][name]["owner"] == uid]
        for name in owned[replicas:]:
            del self.state["pods"][name]
        for _ in range(replicas - len(owned)):
            self.state["serial"] += 1
            self.state["pods"][f"{rs}-pod-{self.state['serial']}"] = {"node": self.state["node"], "owner": uid}

    def outage_if_none_left(self) -> None:
        """Nothing serves until a replacement is ready: the Service stalls requests meanwhile."""
        if not self.own_pods():
            body = json.dumps({"seconds": float(self.state.get("outage_s", 0.6))}).encode()
            urllib.request.urlopen(urllib.request.Request(f"{self.state['service']}/control/stall", data=body),
                                   timeout=5)

    def disruptions_allowed(self) -> int:
        """What the Eviction API allows under the budget, as the disruption controller computes it from healthy
        and desired pods."""
        budget, healthy = self.state["budget"], len(self.own_pods())
        desired = int(self.state["replicasets"][self.current_rs()]["replicas"])
        if "minAvailable" in budget:
            return healthy - int(budget["minAvailable"])
        return int(budget["maxUnavailable"]) - (desired - healthy)


def show(document: dict[str, Any]) -> None:
    print(json.dumps(document))


def handle_get(call: Call, cluster: Controllers) -> None:
    state, words = cluster.state, call.words
    deployment = state["deployment"]
    if words[1:3] == ["namespace", "kube-system"]:
        show({"metadata": {"name": "kube-system", "uid": state["cluster_uid"]}})
    elif words[1] == f"deployment/{deployment['name']}":
        show({"metadata": {"name": deployment["name"], "uid": deployment["uid"],
                           "annotations": deployment["annotations"]},
              "spec": {"selector": {"matchLabels": deployment["labels"]},
                       "replicas": state["replicasets"][cluster.current_rs()]["replicas"]}})
    elif words[1] == "replicasets":
        show({"items": [{"metadata": {"name": name, "uid": rs["uid"], "ownerReferences": [{"uid": deployment["uid"]}]},
                         "spec": {"replicas": rs["replicas"]}} for name, rs in state["replicasets"].items()]})
    elif words[1] == "pods":  # one namespace, or every one (--all-namespaces) on a node (--field-selector)
        on_node = (call.option("--field-selector") or "").removeprefix("spec.nodeName=")
        ready = "False" if state.get("never_ready") else "True"
        show({"items": [{"metadata": {"name": name, "namespace": pod.get("namespace", NAMESPACE),
                                      "ownerReferences": [{"uid": pod["owner"]}]},
                         "spec": {"nodeName": pod["node"]},
                         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}}
                        for name, pod in state["pods"].items()
                        if ("--all-namespaces" in call.args or pod.get("namespace", NAMESPACE) == call.option(
                            "--namespace")) and (not on_node or pod["node"] == on_node)]})
    elif words[1].startswith("node/"):
        show({"spec": {"unschedulable": words[1].removeprefix("node/") in state["cordoned"]}})
    elif words[1].startswith("hpa/"):
        show({"spec": state["hpa"]})
    else:
        sys.exit(f"fake kubectl: cannot get {words[1]}")


def handle_rollout(call: Call, cluster: Controllers) -> None:
    state = cluster.state
    if call.words[1] == "status":
        state["status_calls"] = state.get("status_calls", 0) + 1
        if state["status_calls"] > state.get("stuck_after", 10**9):
            cluster.cluster.save()  # the count is kept for the next call
            sys.exit("error: timed out waiting for the condition")
        cluster.settle()
        return
    old = cluster.current_rs()  # restart: surge first, a new ReplicaSet, then the old one scaled down
    state["serial"] += 1
    state["replicasets"][f"{state['deployment']['name']}-rs-{state['serial']}"] = {
        "uid": f"rs-uid-{state['serial']}", "replicas": state["replicasets"][old]["replicas"]}
    state["replicasets"][old]["replicas"] = 0
    cluster.settle()
    state["replicasets"] = {name: rs for name, rs in state["replicasets"].items() if rs["replicas"] > 0}
    live = {rs["uid"] for rs in state["replicasets"].values()}
    state["pods"] = {name: pod for name, pod in state["pods"].items() if pod["owner"] in live | {"other"}}


def handle_disruption(call: Call, cluster: Controllers) -> None:
    """Deleting a pod or a ReplicaSet, evicting a pod, draining a node."""
    state, words = cluster.state, call.words
    if words[:2] == ["delete", "pod"]:
        if state["pods"][words[2]]["owner"] == "other":
            sys.exit("fake kubectl: a pod of another workload was deleted")
        del state["pods"][words[2]]
    elif words[:2] == ["delete", "replicaset"]:  # the Deployment recreates it (a new uid for real; the same here)
        uid = state["replicasets"][words[2]]["uid"]
        state["pods"] = {name: pod for name, pod in state["pods"].items() if pod["owner"] != uid}
    elif words[0] == "create" and call.option("--raw"):
        if cluster.disruptions_allowed() < 1:
            sys.exit("Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's "
                     "disruption budget.")
        del state["pods"][str(call.option("--raw")).split("/")[-2]]
        cluster.settle()
        return
    elif words[0] == "drain":  # as kubectl drain --pod-selector does: matching pods of the node in every namespace
        state["cordoned"].append(words[1])
        state["pods"] = {name: pod for name, pod in state["pods"].items() if pod["node"] != words[1]}
    else:
        sys.exit(f"fake kubectl: unsupported {call.args}")
    cluster.outage_if_none_left()
    cluster.settle()


def handle(call: Call, cluster: Cluster) -> None:
    controllers, verb = Controllers(cluster), call.words[0]
    if verb == "get":
        handle_get(call, controllers)
    elif verb == "patch":
        cluster.state["hpa"].update(json.loads(str(call.option("-p")))["spec"])
    elif verb == "scale":
        cluster.state["replicasets"][controllers.current_rs()]["replicas"] = int(call.prefixed("--replicas="))
        controllers.settle()
    elif verb == "rollout":
        handle_rollout(call, controllers)
    elif verb == "cordon":
        cluster.state["cordoned"].append(call.words[1])
    elif verb == "uncordon":
        cluster.state["cordoned"].remove(call.words[1])
    else:
        handle_disruption(call, controllers)
