"""validate stage: accuracy gate and offline latency table for every variant the pipeline produced.

Each variant is scored on the evaluation set through the same :class:`SentimentClassifier` the service uses,
compared with ``pytorch-fp32`` (label agreement, probability drift), and timed in-process at the configured
batch sizes, all variants loaded at once and timed in interleaved rounds (each round every variant, the order
rotated), so that background load hits every variant alike and shows as a round-to-round spread, flagged
"disturbed" above ``validate.latency.max_round_cv``. A variant passes when it keeps macro-F1 within
``validate.max_f1_drop`` of the reference and agrees with it on at least ``validate.min_agreement`` of the texts;
a stand-in model is gated on agreement only, because its F1 is chance.
"""

from __future__ import annotations

from stages.common.artifacts import (
    DATASET_DIR,
    MODEL_DIR,
    RESULTS_DIR,
    VARIANTS_DIR,
    dataset_labels,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.io import write_result
from stages.model.validation import ValidateSettings, validate_variants
from stages.params.base import load_params
from stages.reporting.markdown import validation_report


def main() -> None:
    parser = stage_parser(__doc__, model=MODEL_DIR, variants=VARIANTS_DIR, dataset=DATASET_DIR, results=RESULTS_DIR)
    args = parser.parse_args()
    params = load_params(ValidateSettings, args.params)
    validation, confusion = validate_variants(
        params, args.model, args.variants, args.dataset, args.results / "confusion"
    )
    write_result(args.results / "validation.json", validation)
    report = validation_report(validation, confusion, dataset_labels(args.dataset))
    (args.results / "validation.md").write_text(report)
    print(report)
    passed = ", ".join(validation.passed)
    print(f"validate: {len(validation.passed)}/{len(validation.variants)} variants pass: {passed}")


if __name__ == "__main__":
    run_stage("validate", main)
