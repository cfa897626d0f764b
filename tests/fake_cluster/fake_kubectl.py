"""A fake kubectl for the cluster-mode tests: one cluster, two kinds of object. What servebench applies really
runs (fake_workloads: the cluster load test's Deployment, Service, ConfigMap, Indexed Job); the Deployment the
resilience stage disrupts is simulated with its ReplicaSets, pods, node and budget, and its outages reach the
traffic (fake_controllers). Every call is recorded; every call but the contexts lookup must name the cluster's
context and a namespace; only the subcommands servebench uses exist."""

from __future__ import annotations

import sys

import fake_controllers
import fake_workloads
from fake_api import Call, Cluster


def main(argv: list[str]) -> None:
    cluster = Cluster.from_environment()
    cluster.record(["kubectl", *argv])
    call = Call(argv)
    if argv[:2] == ["config", "get-contexts"]:
        print("\n".join(cluster.state["contexts"]))
        return
    context = cluster.state.get("context", cluster.state["contexts"][0])
    if call.option("--context") != context:
        sys.exit(f"error: context {call.option('--context')!r} does not exist in the fake cluster")
    if not call.option("--namespace"):
        sys.exit("fake kubectl: every call must name its namespace")
    if not fake_workloads.handle(call, cluster):
        fake_controllers.handle(call, cluster)
    cluster.save()


if __name__ == "__main__":
    main(sys.argv[1:])
