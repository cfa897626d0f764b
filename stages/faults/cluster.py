"""Cluster-mode disruptions, as the study did them on K3s, made safe to point at a real cluster.

Safety rules, each checked before anything is disrupted (Chaos Mesh and Litmus work the same way):

- only the configured kubectl context and namespace: every kubectl command carries both, and any other target
  is refused before a command runs;
- opt-in: the target Deployment must carry the annotation ``servebench.io/disruptions: allowed`` (set by hand,
  ``kubectl annotate``; the rendered manifests never carry it);
- one pod at a time: ``delete-pod`` deletes one running pod chosen with a seeded generator (Chaos Mesh's
  ``mode: one``), not every pod matching the label;
- ``drain`` evicts through the Eviction API (``kubectl drain --pod-selector``), so the PodDisruptionBudget
  decides, and the node is uncordoned afterwards whatever happened;
- the HorizontalPodAutoscaler is pinned to the replica count under test for the experiment and restored after;
- node-level faults (``restart-k3s``, ``kill-containerd``) are off unless ``resilience.cluster.node_faults`` is
  true, run only when every target pod is on this machine, with ``sudo -n`` (never a password prompt) and exact
  process-name matching (``pkill -x containerd``, which cannot match its own sudo parent).
"""

from __future__ import annotations

import json
import random
import socket
import subprocess

from stages.common.errors import ServebenchError
from stages.common.params import NODE_DISRUPTIONS, ClusterParams

OPT_IN_ANNOTATION = "servebench.io/disruptions"
OPT_IN_VALUE = "allowed"
DRAIN_TIMEOUT_S = 60


class ClusterTargetError(ServebenchError):
    """A disruption was asked of a target that params.yaml does not configure, or that has not opted in."""


class Disruptor:
    """Runs disruptions against ``resilience.cluster``'s Deployment only; see the module docstring."""

    def __init__(self, params: ClusterParams, seed: int = 0) -> None:
        if not params.context:
            raise ClusterTargetError("resilience.cluster.context is not set: cluster mode disrupts only a "
                                     "configured kubectl context (see k3s/README.md)")
        self.params = params
        self.rng = random.Random(seed)
        self.pinned_hpa: dict | None = None

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--context", self.params.context or "", "--namespace", self.params.namespace, *args]

    def check_target(self, context: str, namespace: str) -> None:
        if context != self.params.context or namespace != self.params.namespace:
            raise ClusterTargetError(f"refusing to disrupt context {context!r} / namespace {namespace!r}: only "
                                     f"{self.params.context!r} / {self.params.namespace!r} are configured")

    def run(self, commands: list[list[str]]) -> list[str]:
        """Run the commands in order and return their outputs; any kubectl command aimed elsewhere than the
        configured target is refused before anything runs."""
        for command in commands:
            if command[0] == "kubectl":
                if "--context" not in command or "--namespace" not in command:
                    raise ClusterTargetError(f"refusing {' '.join(command)}: no explicit --context and --namespace")
                self.check_target(command[command.index("--context") + 1], command[command.index("--namespace") + 1])
        outputs = []
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ServebenchError(f"{' '.join(command)} failed: {result.stderr.strip()}")
            outputs.append(result.stdout)
        return outputs

    def _selector(self) -> str:
        return f"app.kubernetes.io/name={self.params.deployment}"

    def _pods(self, field: str) -> list[str]:
        """One field of every running target pod (name or node)."""
        command = self.kubectl("get", "pods", "-l", self._selector(), "--field-selector=status.phase=Running",
                               "-o", f"jsonpath={{.items[*].{field}}}")
        return self.run([command])[0].split()

    def preflight(self) -> None:
        """Refuse a Deployment that has not opted in, and node faults that could hit another machine."""
        deployment = f"deployment/{self.params.deployment}"
        path = OPT_IN_ANNOTATION.replace(".", "\\.")
        annotation = self.run([self.kubectl("get", deployment, "-o", f"jsonpath={{.metadata.annotations.{path}}}")])
        if annotation[0].strip() != OPT_IN_VALUE:
            raise ClusterTargetError(
                f"refusing to disrupt {deployment}: it lacks the opt-in annotation {OPT_IN_ANNOTATION}="
                f"{OPT_IN_VALUE} (kubectl --context {self.params.context} --namespace {self.params.namespace} "
                f"annotate {deployment} {OPT_IN_ANNOTATION}={OPT_IN_VALUE})")
        if set(self.params.disruptions) & set(NODE_DISRUPTIONS):
            nodes, here = set(self._pods("spec.nodeName")), socket.gethostname()
            if nodes != {here}:
                raise ClusterTargetError(f"refusing node-level faults: the target pods run on {sorted(nodes)}, "
                                         f"not only on this machine ({here})")

    def pin_autoscaler(self, replicas: int) -> None:
        """Hold the HPA at ``replicas`` (min = max) so that it does not fight the replica count under test."""
        spec = json.loads(self.run([self.kubectl("get", f"hpa/{self.params.deployment}", "-o",
                                                 "jsonpath={.spec}")])[0] or "{}")
        if self.pinned_hpa is None:
            self.pinned_hpa = {key: spec.get(key) for key in ("minReplicas", "maxReplicas")}
        self._patch_hpa({"minReplicas": replicas, "maxReplicas": replicas})

    def restore_autoscaler(self) -> None:
        if self.pinned_hpa is not None:
            self._patch_hpa(self.pinned_hpa)
            self.pinned_hpa = None

    def _patch_hpa(self, spec: dict) -> None:
        self.run([self.kubectl("patch", f"hpa/{self.params.deployment}", "--type", "merge", "-p",
                               json.dumps({"spec": spec}))])

    def scale(self, replicas: int) -> None:
        deployment = f"deployment/{self.params.deployment}"
        self.run([self.kubectl("scale", deployment, f"--replicas={replicas}"),
                  self.kubectl("rollout", "status", deployment, "--timeout=600s")])

    def disrupt(self, disruption: str) -> list[str]:
        """Perform one disruption; return the commands run, for the fault log."""
        if disruption == "delete-pod":
            pods = sorted(self._pods("metadata.name"))
            if not pods:
                raise ServebenchError(f"delete-pod: no running pod matches {self._selector()}")
            commands = [self.kubectl("delete", "pod", self.rng.choice(pods), "--wait=false")]
        elif disruption == "delete-replicaset":
            commands = [self.kubectl("delete", "replicaset", "-l", self._selector(), "--wait=false")]
        elif disruption == "rollout-restart":
            commands = [self.kubectl("rollout", "restart", f"deployment/{self.params.deployment}")]
        elif disruption == "drain":
            return self._drain()
        elif disruption == "restart-k3s":
            commands = [["sudo", "-n", "systemctl", "restart", "k3s"]]
        elif disruption == "kill-containerd":
            commands = [["sudo", "-n", "pkill", "-9", "-x", "containerd"]]
        else:
            raise ClusterTargetError(f"unknown disruption {disruption!r}")
        self.run(commands)
        return [" ".join(command) for command in commands]

    def _drain(self) -> list[str]:
        """Evict the target pods from their node through the Eviction API (the PodDisruptionBudget decides how
        many may go), then uncordon the node; a drain the budget holds up ends at its timeout, as it should."""
        node = sorted(set(self._pods("spec.nodeName")))[0]
        drain = self.kubectl("drain", node, f"--pod-selector={self._selector()}", "--ignore-daemonsets",
                             "--delete-emptydir-data", f"--timeout={DRAIN_TIMEOUT_S}s")
        uncordon = self.kubectl("uncordon", node)
        try:
            self.run([drain])
            outcome = "drained"
        except ServebenchError as exc:
            outcome = f"drain stopped: {exc}"[:200]
        finally:
            self.run([uncordon])
        return [" ".join(drain), outcome, " ".join(uncordon)]
