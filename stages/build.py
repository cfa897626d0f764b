"""build stage: a BentoML model and a Bento for the baseline and the optimized service.

Each served variant (weights + tokenizer) is imported into a BentoML store kept inside the workspace
(``bentoml/``, a DVC output), then ``bentoml build`` runs offline (``lock_packages: false``: no uv install, no
index lookups) in a build context holding the service code and a ``serving.json`` baked from ``params.yaml``.
A variant that failed the accuracy gate is never built.
"""

from __future__ import annotations

from stages.common.artifacts import (
    BENTOML_HOME,
    BENTOS_JSON,
    MODEL_DIR,
    VALIDATION_JSON,
    VARIANTS_DIR,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result, write_result
from stages.params.base import load_params
from stages.records.validation import Validation
from stages.serving.build import BuildSettings, build_services


def main() -> None:
    parser = stage_parser(__doc__, model=MODEL_DIR, variants=VARIANTS_DIR, validation=VALIDATION_JSON,
                          bentoml_home=BENTOML_HOME, out=BENTOS_JSON)
    args = parser.parse_args()
    validation = read_result(args.validation, Validation)
    settings = load_params(BuildSettings, args.params)
    bentos = build_services(settings, args.model, args.variants, validation, args.bentoml_home)
    write_result(args.out, bentos)
    print(f"build: {len(bentos.services)} Bentos in {args.bentoml_home} -> {args.out}")


if __name__ == "__main__":
    run_stage("build", main)
