"""Cluster-mode disruptions, as the study did them on K3s, aimed only at the configured context and namespace.

The disruptor is a small piece: it turns a disruption name into the commands it runs, refuses anything that is
not the configured kubectl context and namespace, and runs them. Everything else (load, records, recovery) is
shared with the local mode.
"""

from __future__ import annotations

import subprocess

from stages.common.errors import ServebenchError
from stages.common.params import ClusterParams


class ClusterTargetError(ServebenchError):
    """A disruption was asked of a context or namespace that params.yaml does not configure."""


class Disruptor:
    def __init__(self, params: ClusterParams) -> None:
        if not params.context:
            raise ClusterTargetError("resilience.cluster.context is not set: cluster mode disrupts only a "
                                     "configured kubectl context (see k3s/README.md)")
        self.params = params

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--context", self.params.context or "", "--namespace", self.params.namespace, *args]

    def check_target(self, context: str, namespace: str) -> None:
        if context != self.params.context or namespace != self.params.namespace:
            raise ClusterTargetError(f"refusing to disrupt context {context!r} / namespace {namespace!r}: only "
                                     f"{self.params.context!r} / {self.params.namespace!r} are configured")

    def commands(self, disruption: str) -> list[list[str]]:
        """The commands one disruption runs; the node-level ones need sudo on the K3s node."""
        selector = f"app={self.params.deployment}"
        if disruption == "delete-pod":
            return [self.kubectl("delete", "pod", "-l", selector, "--wait=false")]
        if disruption == "delete-replicaset":
            return [self.kubectl("delete", "replicaset", "-l", selector, "--wait=false")]
        if disruption == "rollout-restart":
            return [self.kubectl("rollout", "restart", f"deployment/{self.params.deployment}")]
        if disruption == "restart-k3s":
            return [["sudo", "systemctl", "restart", "k3s"]]
        if disruption == "kill-containerd":
            return [["sudo", "pkill", "-9", "-f", "containerd"]]
        raise ClusterTargetError(f"unknown disruption {disruption!r}")

    def scale(self, replicas: int) -> list[list[str]]:
        deployment = f"deployment/{self.params.deployment}"
        return [self.kubectl("scale", deployment, f"--replicas={replicas}"),
                self.kubectl("rollout", "status", deployment, "--timeout=600s")]

    def run(self, commands: list[list[str]]) -> None:
        """Run the commands in order; any kubectl command aimed elsewhere than the configured target is refused
        before anything runs."""
        for command in commands:
            if command[0] == "kubectl":
                if "--context" not in command or "--namespace" not in command:
                    raise ClusterTargetError(f"refusing {' '.join(command)}: no explicit --context and --namespace")
                self.check_target(command[command.index("--context") + 1], command[command.index("--namespace") + 1])
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ServebenchError(f"{' '.join(command)} failed: {result.stderr.strip()}")
