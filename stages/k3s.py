"""k3s stage: render the Kubernetes manifests of the served Bento from ``k3s.*`` params into ``k3s/``.

Writes ``k3s/servebench.yaml`` (``k3s.replicas`` replicas) and ``k3s/servebench-2-replicas.yaml`` (the
readiness-gated two-replica variant the resilience comparison needs), each validated strictly against the
Kubernetes schemas of ``k3s.kubernetes_version`` before it is written.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.common.cli import run_stage, stage_parser
from stages.common.params import load_params
from stages.manifests.render import render, validate

HEADER = "# Rendered by `dvc repro k3s` from params.yaml (k3s.*); edit the params, not this file.\n"


def main() -> None:
    parser = stage_parser(__doc__, out=Path("k3s"))
    args = parser.parse_args()
    params = load_params(args.params).k3s
    args.out.mkdir(parents=True, exist_ok=True)
    for replicas, name in ((params.replicas, "servebench.yaml"), (2, "servebench-2-replicas.yaml")):
        objects = render(params, replicas)
        validate(objects, params.kubernetes_version)
        (args.out / name).write_text(HEADER + yaml.safe_dump_all(objects, sort_keys=False))
        print(f"k3s: {len(objects)} objects, {replicas} replica(s), valid for Kubernetes "
              f"{params.kubernetes_version} -> {args.out / name}")


if __name__ == "__main__":
    run_stage("k3s", main)
