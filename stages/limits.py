"""limits stage: what serving costs against the physical limit of the same classifier on the same threads
(``results/limits.json``; the measurement: :mod:`stages.serving.limits`)."""

from __future__ import annotations

from pathlib import Path

from stages.common.artifacts import (
    BENTOS_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LIMITS_JSON,
    LOGS_DIR,
    MODEL_DIR,
    SERVICES,
    VARIANTS_DIR,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result, write_result
from stages.params.base import load_params
from stages.records.bentos import Bentos
from stages.serving.limits import ArtifactPaths, LimitsSettings, limits_of, measure_service


def main() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, model=MODEL_DIR, variants=VARIANTS_DIR,
                          logs=LOGS_DIR / "limits", out=LIMITS_JSON)
    args = parser.parse_args()
    params = load_params(LimitsSettings, args.params)
    bentos = read_result(args.bentos, Bentos)
    texts = read_corpus(args.dataset / CORPUS_FILE)
    paths = ArtifactPaths(Path(bentos.bentoml_home), args.logs, args.model, args.variants)
    limits = limits_of({name: measure_service(name, bentos.services[name], params, texts, paths)
                        for name in SERVICES}, bentos.standin)
    write_result(args.out, limits)
    print(f"limits: optimized vs baseline: {limits.speedup['low_load_p50']:.1f}x faster at low load, "
          f"{limits.speedup['saturation_throughput']:.1f}x throughput at saturation -> {args.out}")


if __name__ == "__main__":
    run_stage("limits", main)
