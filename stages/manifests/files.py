"""The manifest files the k3s stage writes: the served Bento's (validated before written) and the example of
one cluster load-test run's objects."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from stages.common.artifacts import CLASSIFY
from stages.manifests.generator import generator_job, generator_policy, served_objects
from stages.manifests.render import ServedImage, render, validate
from stages.manifests.sizing import require_fit, require_loadtest_fit
from stages.params.k3s import K3sParams
from stages.params.loadtest import ClusterLoadParams

logger = logging.getLogger(__name__)

GENERATOR_EXAMPLE = "loadtest-run.yaml"
EXAMPLE_RUN, EXAMPLE_RUN_S = "sb-optimized-0a1b2c", 60.0
GENERATOR_HEADER = ("# Rendered by `dvc repro k3s`: what `loadtest.target: cluster` applies for one run (a fresh "
                    "name per run; its\n# ConfigMap of request bodies, made per run, is left out). Not for `kubectl "
                    "apply`.\n"
                    "# Requires Kubernetes >= {minimum} (validated against {versions}).\n"
                    "# Requests on the node: {fit}.\n")
HEADER = ("# Rendered by `dvc repro k3s` from params.yaml (k3s.*) and results/bentos.json; edit the params, not this "
          "file.\n# Requires Kubernetes >= {minimum} (validated against {versions}).\n# Requests on the node: "
          "{fit}.\n")


def write_generator_example(k3s: K3sParams, cluster: ClusterLoadParams, served: ServedImage, versions: list[str],
                            path: Path) -> None:
    """A cluster load test's run objects as the loadtest stage applies them (one run of the optimized arm, a
    placeholder run name; the ConfigMap of request bodies is left out), for review and validation."""
    fit = require_loadtest_fit(k3s, cluster)
    run = served_objects(k3s, cluster, EXAMPLE_RUN, served, CLASSIFY)
    objects = [*run.served, generator_policy(cluster, k3s, EXAMPLE_RUN),
               generator_job(cluster, k3s, EXAMPLE_RUN, run.url, EXAMPLE_RUN_S)]
    validate(objects, versions)
    header = GENERATOR_HEADER.format(minimum=k3s.min_kubernetes_version, versions=", ".join(versions),
                                     fit=fit.arithmetic())
    path.write_text(header + yaml.safe_dump_all(objects, sort_keys=False))
    logger.info(f"k3s: a cluster load-test run ({cluster.shards} generator pods, image {cluster.generator_image}), "
                f"valid for Kubernetes {versions[0]} to {versions[-1]} -> {path}")


def write_served_manifests(settings: K3sParams, served: ServedImage, versions: list[str], out: Path) -> None:
    """``k3s.replicas`` replicas in ``servebench.yaml`` and the two-replica variant the resilience comparison
    needs, each validated against every Kubernetes version in ``versions`` before it is written."""
    out.mkdir(parents=True, exist_ok=True)
    for replicas, name in ((settings.replicas, "servebench.yaml"), (2, "servebench-2-replicas.yaml")):
        fit = require_fit(settings, replicas)
        objects = render(settings, served, replicas)
        validate(objects, versions)
        header = HEADER.format(minimum=settings.min_kubernetes_version, versions=", ".join(versions),
                               fit=fit.arithmetic())
        (out / name).write_text(header + yaml.safe_dump_all(objects, sort_keys=False))
        logger.info(f"k3s: {len(objects)} objects, image {served.image}, {replicas} replica(s), valid for Kubernetes "
                    f"{versions[0]} to {versions[-1]}; {fit.arithmetic()} -> {out / name}")
