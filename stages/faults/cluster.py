"""Cluster-mode disruptions, as the study did them on K3s, made safe to point at a shared cluster.

Each safety rule is checked before anything changes, as Chaos Mesh and Litmus do: only the configured context
and namespace, on the cluster pinned at opt-in; a Deployment that opted in; its own pods only (selector *and*
owner references); node faults on a dedicated node only; every change journaled before it is made and undone on
exit, on signals and by ``--restore``; halt conditions during and between runs. k3s/README.md states each rule.
"""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path
from typing import Any

from stages.common.errors import ServebenchError, present
from stages.common.kubectl import DEFAULT_TIMEOUT_S, Kubectl, KubectlError, run_command
from stages.params.resilience import NODE_DISRUPTIONS, ClusterParams

OPT_IN_ANNOTATION = "servebench.io/disruptions"
OPT_IN_VALUE = "allowed"
K3S_CONTAINERD = "^containerd .*/run/k3s/containerd/"  # pkill -f: K3s's containerd, not sudo or pkill itself
SYSTEM_NAMESPACES = ("kube-system",)  # K3s's own pods (CoreDNS, metrics-server, local-path, Traefik, ServiceLB)


class ClusterTargetError(KubectlError):
    """A disruption was asked of a target that params.yaml does not configure, or that has not opted in."""


class ClusterHealthError(ServebenchError):
    """The Deployment did not return to its steady state between disruptions: the experiment stops."""


class Disruptor:
    """Runs disruptions against ``resilience.cluster``'s Deployment only; see the module docstring."""

    def __init__(self, params: ClusterParams, seed: int = 0, journal: Path | None = None) -> None:
        self.target = Kubectl(params.context, params.namespace, "resilience.cluster", ClusterTargetError)
        self.params = params
        self.rng = random.Random(seed)
        self.journal = journal
        self.deployment_uid: str | None = None
        self.selector: str | None = None

    def kubectl(self, *args: str) -> list[str]:
        return self.target.command(*args)

    def check_target(self, context: str, namespace: str) -> None:
        if context != self.params.context or namespace != self.params.namespace:
            raise ClusterTargetError(f"refusing to disrupt context {context!r} / namespace {namespace!r}: only "
                                     f"{self.params.context!r} / {self.params.namespace!r} are configured")

    def run(self, commands: list[list[str]], stdin: str | None = None) -> list[str]:
        """Run the commands in order and return their outputs; any kubectl command aimed elsewhere than the
        configured target is refused before anything runs."""
        for command in commands:
            if command[0] == "kubectl":
                if "--context" not in command or "--namespace" not in command:
                    raise ClusterTargetError(f"refusing {' '.join(command)}: no explicit --context and --namespace")
                self.check_target(command[command.index("--context") + 1], command[command.index("--namespace") + 1])
        # A rollout may wait health_timeout_s (its own --timeout); nothing else waits that long.
        timeout_s = max(DEFAULT_TIMEOUT_S, self.params.health_timeout_s + 60.0)
        return [run_command(command, stdin, timeout_s) for command in commands]

    def _json(self, *args: str) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.run([self.kubectl(*args, "-o", "json")])[0] or "{}")
        return parsed

    def verify_cluster(self) -> None:
        """Refuse to change anything unless the context still reaches the cluster pinned at opt-in (its
        kube-system namespace's UID): a context name is only a name, and K3s calls its own ``default``."""
        pinned = self.params.cluster_uid
        if not pinned:
            raise ClusterTargetError(
                "resilience.cluster.cluster_uid is not set: pin the cluster you opted in (kubectl --context "
                f"{self.params.context} get namespace kube-system -o jsonpath='{{.metadata.uid}}')")
        found = self._json("get", "namespace", "kube-system").get("metadata", {}).get("uid")
        if found != pinned:
            raise ClusterTargetError(f"refusing to disrupt: context {self.params.context!r} reaches the cluster whose "
                                     f"kube-system UID is {found!r}, not the pinned {pinned!r}")

    def preflight(self) -> None:
        """Refuse an unknown context, another cluster than the pinned one, a Deployment that has not opted in, and
        node faults that could hit another machine; learn the Deployment's selector and uid."""
        self.target.require_context()
        self.verify_cluster()
        deployment = self._json("get", f"deployment/{self.params.deployment}")
        metadata = deployment.get("metadata", {})
        if metadata.get("annotations", {}).get(OPT_IN_ANNOTATION) != OPT_IN_VALUE:
            raise ClusterTargetError(
                f"refusing to disrupt deployment/{self.params.deployment}: it lacks the opt-in annotation "
                f"{OPT_IN_ANNOTATION}={OPT_IN_VALUE} (kubectl --context {self.params.context} --namespace "
                f"{self.params.namespace} annotate deployment/{self.params.deployment} "
                f"{OPT_IN_ANNOTATION}={OPT_IN_VALUE})")
        labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        if not labels:
            raise ClusterTargetError(f"deployment/{self.params.deployment} has no spec.selector.matchLabels")
        self.selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        self.deployment_uid = metadata.get("uid")
        if set(self.params.disruptions) & set(NODE_DISRUPTIONS):
            nodes, here = {pod["spec"]["nodeName"] for pod in self.pods()}, socket.gethostname()
            if nodes != {here}:
                raise ClusterTargetError(f"refusing node-level faults: the target pods run on {sorted(nodes)}, "
                                         f"not only on this machine ({here})")
            self.require_dedicated_node(here)

    def check_before(self, disruption: str) -> None:
        """Just before a disruption: still the pinned cluster, and for a node fault still a dedicated node (a pod
        of another workload may have arrived since the preflight)."""
        self.verify_cluster()
        if disruption in NODE_DISRUPTIONS:
            self.require_dedicated_node(socket.gethostname())

    def require_dedicated_node(self, node: str) -> None:
        """Refuse a node fault on a node that runs pods of any namespace but the experiment's and the system's:
        restarting K3s or killing its containerd strikes every pod there, and a cordon holds every workload's."""
        items = self._json("get", "pods", "--all-namespaces", "--field-selector", f"spec.nodeName={node}")
        foreign = sorted(f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"
                         for pod in items.get("items", [])
                         if pod["metadata"].get("namespace") not in (self.params.namespace, *SYSTEM_NAMESPACES))
        if foreign:
            raise ClusterTargetError(
                f"refusing node-level faults: node {node} also runs {', '.join(foreign[:5])}"
                f"{f' and {len(foreign) - 5} more' if len(foreign) > 5 else ''}; a node fault needs a node that "
                f"holds only namespace {self.params.namespace}'s and the system's ({', '.join(SYSTEM_NAMESPACES)}) "
                "pods")

    def replicasets(self) -> list[dict[str, Any]]:
        """The Deployment's own ReplicaSets (owner reference to its uid)."""
        selector = present(self.selector, "the Deployment's selector (preflight() first)")
        items = self._json("get", "replicasets", "-l", selector).get("items", [])
        return [item for item in items if any(owner.get("uid") == self.deployment_uid
                                              for owner in item["metadata"].get("ownerReferences", []))]

    def pods(self) -> list[dict[str, Any]]:
        """The Deployment's own running pods: matching its selector and owned by one of its ReplicaSets."""
        owners = {item["metadata"]["uid"] for item in self.replicasets()}
        items = self._json("get", "pods", "-l", self.selector or "").get("items", [])
        return [pod for pod in items if pod.get("status", {}).get("phase") == "Running"
                and any(owner.get("uid") in owners for owner in pod["metadata"].get("ownerReferences", []))]

    def _one_pod(self, disruption: str) -> str:
        names = sorted(pod["metadata"]["name"] for pod in self.pods())
        if not names:
            raise ServebenchError(f"{disruption}: no running pod of deployment/{self.params.deployment}")
        return str(self.rng.choice(names))

    # -- what must be undone: journal first, then the change ---------------------------------------------------

    def _journal(self, update: dict[str, Any]) -> None:
        if self.journal is None:
            return
        entries = read_journal(self.journal)
        entries.update({"context": self.params.context, "namespace": self.params.namespace,
                        "deployment": self.params.deployment} | update)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.journal.write_text(json.dumps(entries, indent=1))

    def pin_autoscaler(self, replicas: int) -> None:
        """Hold the HPA at ``replicas`` (min = max) so that it does not fight the replica count under test."""
        self.verify_cluster()
        spec = self._json("get", f"hpa/{self.params.deployment}").get("spec", {})
        if "hpa" not in read_journal(self.journal):
            self._journal({"hpa": {key: spec.get(key) for key in ("minReplicas", "maxReplicas")}})
        self._patch_hpa({"minReplicas": replicas, "maxReplicas": replicas})

    def _patch_hpa(self, spec: dict[str, Any]) -> None:
        self.run([self.kubectl("patch", f"hpa/{self.params.deployment}", "--type", "merge", "-p",
                               json.dumps({"spec": spec}))])

    def restore(self) -> list[str]:
        """Undo what the journal holds (HPA bounds, cordoned nodes, the replica count), then remove it; what was
        undone."""
        entries = read_journal(self.journal)
        if entries:
            self.verify_cluster()
        done = []
        if entries.get("hpa"):
            self._patch_hpa(entries["hpa"])
            done.append(f"hpa/{self.params.deployment} back to {entries['hpa']}")
        for node in entries.get("cordoned", []):
            self.run([self.kubectl("uncordon", node)])
            done.append(f"node {node} uncordoned")
        if entries.get("replicas") is not None:
            self.run([self.kubectl("scale", f"deployment/{self.params.deployment}",
                                   f"--replicas={entries['replicas']}")])
            done.append(f"deployment/{self.params.deployment} back to {entries['replicas']} replicas")
        if self.journal is not None:
            self.journal.unlink(missing_ok=True)
        return done

    # -- steady state --------------------------------------------------------------------------------------------

    def scale(self, replicas: int) -> None:
        """Scale the Deployment to ``replicas``; its count before the experiment is journaled first (once)."""
        self.verify_cluster()
        if "replicas" not in read_journal(self.journal):
            before = self._json("get", f"deployment/{self.params.deployment}").get("spec", {}).get("replicas")
            self._journal({"replicas": before})
        self.run([self.kubectl("scale", f"deployment/{self.params.deployment}", f"--replicas={replicas}")])
        self.wait_healthy(replicas)

    def wait_healthy(self, replicas: int) -> None:
        """Every replica of the Deployment ready again within ``health_timeout_s``, else stop the experiment."""
        deployment = f"deployment/{self.params.deployment}"
        try:
            self.run([self.kubectl("rollout", "status", deployment, f"--timeout={self.params.health_timeout_s}s")])
        except ServebenchError as exc:
            raise ClusterHealthError(f"{deployment} did not return to {replicas} ready replicas within "
                                     f"{self.params.health_timeout_s} s; stopping the experiment: {exc}") from exc
        pods = self.pods()
        ready = sum(is_ready(pod) for pod in pods)
        if ready < replicas:
            raise ClusterHealthError(f"{deployment}: {ready} of {replicas} pods ready ({len(pods)} running) after "
                                     "the rollout; stopping the experiment")

    # -- the disruptions -----------------------------------------------------------------------------------------

    def disrupt(self, disruption: str) -> list[str]:
        """Perform one disruption; return what was done, for the fault log. The caller has just verified the
        cluster (:meth:`check_before`), before it stamped the fault's start."""
        if disruption == "delete-pod":
            commands = [self.kubectl("delete", "pod", self._one_pod(disruption), "--wait=false")]
        elif disruption == "evict-pod":
            return self._evict(self._one_pod(disruption))
        elif disruption == "delete-replicaset":
            current = [item for item in self.replicasets() if item.get("spec", {}).get("replicas", 0) > 0]
            if len(current) != 1:
                raise ServebenchError(f"delete-replicaset: deployment/{self.params.deployment} has {len(current)} "
                                      "ReplicaSets with replicas (a rollout in progress?); expected one")
            commands = [self.kubectl("delete", "replicaset", current[0]["metadata"]["name"], "--wait=false")]
        elif disruption == "rollout-restart":
            commands = [self.kubectl("rollout", "restart", f"deployment/{self.params.deployment}")]
        elif disruption == "drain-node":
            return self._drain()
        elif disruption == "restart-k3s":
            commands = [["sudo", "-n", "systemctl", "restart", "k3s"]]
        elif disruption == "kill-containerd":
            commands = [["sudo", "-n", "pkill", "-9", "-f", K3S_CONTAINERD]]
        else:
            raise ClusterTargetError(f"unknown disruption {disruption!r}")
        self.run(commands)
        return [" ".join(command) for command in commands]

    def _evict(self, pod: str) -> list[str]:
        """An Eviction (policy/v1) of one pod: the API server refuses it (429) when the budget allows none."""
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": pod, "namespace": self.params.namespace}}
        command = self.kubectl("create", "--raw", f"/api/v1/namespaces/{self.params.namespace}/pods/{pod}/eviction",
                               "-f", "-")
        try:
            self.run([command], stdin=json.dumps(eviction))
            outcome = f"evicted {pod}"
        except ServebenchError as exc:
            outcome = f"eviction of {pod} refused: {exc}"[:200]
        return [" ".join(command), outcome]

    def _drain(self) -> list[str]:
        """Node fault (a dedicated node only): cordon the node of the target pods (journaled first, and only when
        it was not cordoned already, so --restore never uncordons a node someone else cordoned), evict each of
        the Deployment's own pods on it through the Eviction API (the budget decides, as for evict-pod), then
        uncordon. Not ``kubectl drain --pod-selector``: it evicts matching pods of every namespace, owner or not."""
        pods = self.pods()
        node = sorted({pod["spec"]["nodeName"] for pod in pods})[0]
        cordoned_before = bool(self._json("get", f"node/{node}").get("spec", {}).get("unschedulable"))
        actions = []
        if not cordoned_before:
            self._journal({"cordoned": [node]})
            self.run([self.kubectl("cordon", node)])
            actions.append(f"cordon {node}")
        try:
            for pod in sorted(pod["metadata"]["name"] for pod in pods if pod["spec"]["nodeName"] == node):
                actions += self._evict(pod)
        finally:
            if not cordoned_before:
                self.run([self.kubectl("uncordon", node)])
                self._journal({"cordoned": []})
                actions.append(f"uncordon {node}")
        return actions


def is_ready(pod: dict[str, Any]) -> bool:
    """The pod's Ready condition is True: it passes its readiness probe and the Service sends it traffic."""
    return any(condition.get("type") == "Ready" and condition.get("status") == "True"
               for condition in pod.get("status", {}).get("conditions", []))


def read_journal(path: Path | None) -> dict[str, Any]:
    return json.loads(path.read_text()) if path is not None and path.is_file() else {}
