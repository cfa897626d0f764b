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

from stages.common.artifacts import BENTOS_JSON
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result
from stages.manifests.files import GENERATOR_EXAMPLE, write_generator_example, write_served_manifests
from stages.manifests.render import ServedImage, supported_versions
from stages.params.base import StageParams, load_params
from stages.params.k3s import K3sParams
from stages.params.loadtest import LoadtestParams
from stages.params.serve import ServeParams
from stages.records.bentos import Bentos


class Settings(StageParams):
    k3s: K3sParams = K3sParams()
    serve: ServeParams = ServeParams()
    loadtest: LoadtestParams = LoadtestParams()


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, out=Path("k3s"))
    args = parser.parse_args()
    params = load_params(Settings, args.params)
    settings = params.k3s
    bento = read_result(args.bentos, Bentos).services["optimized"].bento
    served = ServedImage(image=settings.image or bento, version=bento.split(":")[-1],
                         timeout_s=params.serve.optimized.timeout_s)
    versions = supported_versions(settings.min_kubernetes_version)
    write_served_manifests(settings, served, versions, args.out)
    write_generator_example(settings, params.loadtest.cluster, served, versions, args.out / GENERATOR_EXAMPLE)


if __name__ == "__main__":
    run_stage("k3s", main)
