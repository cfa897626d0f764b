"""k3s stage: render the Kubernetes manifests of the served optimized Bento from ``k3s.*`` params into ``k3s/``.

Writes ``k3s/servebench.yaml`` (``k3s.replicas`` replicas) and ``k3s/servebench-2-replicas.yaml`` (the
readiness-gated two-replica variant the resilience comparison needs), and ``k3s/loadtest-run.yaml``: the
Deployment, Service and generator Indexed Job of one cluster load-test run, as ``loadtest.target: cluster``
applies them. The image is the optimized Bento's tag
from ``results/bentos.json`` (what ``bentoml containerize`` names it) unless ``k3s.image`` pins another; the
termination grace follows ``serve.optimized.timeout_s``. Each file is validated strictly against every Kubernetes
version from ``k3s.min_kubernetes_version`` to the newest kubernetes-validate knows, before it is written.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.common.artifacts import BENTOS_JSON, CLASSIFY
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result
from stages.common.params import Params, load_params
from stages.common.results import Bentos
from stages.manifests.generator import generator_job, generator_policy, served_objects
from stages.manifests.render import Served, render, supported_versions, validate
from stages.manifests.sizing import require_fit

GENERATOR_EXAMPLE = "loadtest-run.yaml"
EXAMPLE_RUN, EXAMPLE_RUN_S = "sb-optimized-0a1b2c", 60.0
GENERATOR_HEADER = ("# Rendered by `dvc repro k3s`: what `loadtest.target: cluster` applies for one run (a fresh "
                    "name per run; its\n# ConfigMap of request bodies, made per run, is left out). Not for `kubectl "
                    "apply`.\n"
                    "# Requires Kubernetes >= {minimum} (validated against {versions}).\n")
HEADER = ("# Rendered by `dvc repro k3s` from params.yaml (k3s.*) and results/bentos.json; edit the params, not this "
          "file.\n# Requires Kubernetes >= {minimum} (validated against {versions}).\n# CPU requests on the node: "
          "{fit}.\n")


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, out=Path("k3s"))
    args = parser.parse_args()
    params = load_params(args.params)
    settings = params.k3s
    bento = read_result(args.bentos, Bentos).services["optimized"].bento
    served = Served(image=settings.image or bento, version=bento.split(":")[-1],
                    timeout_s=params.serve.optimized.timeout_s)
    versions = supported_versions(settings.min_kubernetes_version)
    args.out.mkdir(parents=True, exist_ok=True)
    for replicas, name in ((settings.replicas, "servebench.yaml"), (2, "servebench-2-replicas.yaml")):
        fit = require_fit(settings, replicas)
        objects = render(settings, served, replicas)
        validate(objects, versions)
        header = HEADER.format(minimum=settings.min_kubernetes_version, versions=", ".join(versions),
                               fit=fit.arithmetic())
        (args.out / name).write_text(header + yaml.safe_dump_all(objects, sort_keys=False))
        print(f"k3s: {len(objects)} objects, image {served.image}, {replicas} replica(s), valid for Kubernetes "
              f"{versions[0]} to {versions[-1]}; {fit.arithmetic()} -> {args.out / name}")
    write_generator_example(params, served, versions, args.out / GENERATOR_EXAMPLE)


def write_generator_example(params: Params, served: Served, versions: list[str], path: Path) -> None:
    """A cluster load test's run objects as the loadtest stage applies them (one run of the optimized arm, a
    placeholder run name; the ConfigMap of request bodies is left out), for review and validation."""
    cluster = params.loadtest.cluster
    run = served_objects(params.k3s, cluster, EXAMPLE_RUN, served, CLASSIFY)
    objects = [*run.served, generator_policy(cluster, params.k3s, EXAMPLE_RUN),
               generator_job(cluster, params.k3s, EXAMPLE_RUN, run.url, EXAMPLE_RUN_S)]
    validate(objects, versions)
    header = GENERATOR_HEADER.format(minimum=params.k3s.min_kubernetes_version, versions=", ".join(versions))
    path.write_text(header + yaml.safe_dump_all(objects, sort_keys=False))
    print(f"k3s: a cluster load-test run ({cluster.shards} generator pods, image {cluster.generator_image}), valid "
          f"for Kubernetes {versions[0]} to {versions[-1]} -> {path}")


if __name__ == "__main__":
    run_stage("k3s", main)
