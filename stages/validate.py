"""validate stage: accuracy gate and offline latency table for every variant the pipeline produced.

Each variant is scored on the evaluation set through the same :class:`SentimentClassifier` the service uses,
compared with ``pytorch-fp32`` (label agreement, probability drift), and timed in-process at the configured
batch sizes. A variant passes when it keeps macro-F1 within ``validate.max_f1_drop`` of the reference and agrees
with it on at least ``validate.min_agreement`` of the texts; a stand-in model is gated on agreement only,
because its F1 is chance.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from stages.common.artifacts import (
    DATASET_DIR,
    EVAL_FILE,
    MODEL_DIR,
    RESULTS_DIR,
    VARIANTS_DIR,
    dataset_labels,
    model_info,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import write_result
from stages.common.params import Params, ValidateParams, load_params
from stages.common.results import Gate, Validation, VariantValidation
from stages.model.classifier import SentimentClassifier
from stages.model.latency import measure_latency
from stages.model.metrics import classification_metrics
from stages.model.variants import REFERENCE_VARIANT, Variant, produced_variants
from stages.reporting.markdown import validation_report

MIB = 2**20


def predict_in_batches(classifier: SentimentClassifier, texts: list[str], batch_size: int) -> np.ndarray:
    """Probabilities for all texts; batches are formed from length-sorted texts to waste little on padding."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    probabilities = np.empty((len(texts), len(classifier.labels)), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        chosen = order[start : start + batch_size]
        probabilities[chosen] = classifier.predict_proba([texts[i] for i in chosen])
    return probabilities


def gate(metrics: dict, reference: dict, params: ValidateParams, standin: bool) -> list[str]:
    """Reasons a variant fails the accuracy gate; empty when it passes."""
    reasons = []
    if metrics["agreement"] < params.min_agreement:
        reasons.append(f"agreement {metrics['agreement']:.4f} < min_agreement {params.min_agreement}")
    drop = reference["f1_macro"] - metrics["f1_macro"]
    if not standin and drop > params.max_f1_drop:
        reasons.append(f"macro-F1 drop {drop:.4f} > max_f1_drop {params.max_f1_drop}")
    return reasons


def evaluate_variant(
    variant: Variant,
    model_dir: Path,
    frame: pd.DataFrame,
    params: Params,
    reference_probs: np.ndarray | None,
    labels: list[str],
    progress: tqdm,
) -> tuple[dict, np.ndarray]:
    """Score and time one variant; return its metrics and its probabilities on the evaluation set."""
    classifier = SentimentClassifier.load(variant, model_dir, params.tokenizer, params.runtime)
    if classifier.labels != labels:
        raise ServebenchError(f"model labels {classifier.labels} differ from dataset labels {labels}")
    texts = frame["text"].tolist()
    probabilities = predict_in_batches(classifier, texts, params.validate_.batch_size)
    progress.update(1)
    reference = probabilities if reference_probs is None else reference_probs
    metrics = classification_metrics(frame["label"].to_numpy(), probabilities, reference, labels)
    rng = np.random.default_rng(0)
    latency_ms: dict[str, dict] = {}
    throughput: dict[str, float] = {}
    for batch_size in params.validate_.latency.batch_sizes:
        sample = [texts[i] for i in rng.choice(len(texts), size=batch_size, replace=batch_size > len(texts))]
        timing = measure_latency(
            classifier.predict_proba, [sample] * params.validate_.latency.repeats, params.validate_.latency.warmup,
            params.validate_.latency.max_seconds,
        )
        latency_ms[f"bs{batch_size}"] = timing.latency
        throughput[f"bs{batch_size}"] = timing.throughput_per_s
        progress.update(1)
    metrics |= {"size_mb": variant.size_bytes / MIB, "latency_ms": latency_ms, "throughput_per_s": throughput}
    del classifier
    gc.collect()
    return metrics, probabilities


def validate_variants(
    params: Params, model_dir: Path, variants_dir: Path, dataset_dir: Path, plots_dir: Path
) -> tuple[Validation, dict[str, list[list[int]]]]:
    """Evaluate every produced variant and write confusion-matrix plot data.

    Returns the ``validation.json`` body (DVC metrics: scalars only) and the confusion matrices by variant.
    """
    frame = pd.read_parquet(dataset_dir / EVAL_FILE)
    labels = dataset_labels(dataset_dir)
    info = model_info(model_dir)
    standin = bool(info["standin"])
    variants = produced_variants(model_dir, variants_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    confusion: dict[str, list[list[int]]] = {}
    reference_probs: np.ndarray | None = None
    steps = len(variants) * (1 + len(params.validate_.latency.batch_sizes))
    with tqdm(total=steps, desc="validate", unit="step") as progress:
        for variant in variants:
            progress.set_postfix_str(variant.name)
            metrics, probabilities = evaluate_variant(
                variant, model_dir, frame, params, reference_probs, labels, progress
            )
            if variant.name == REFERENCE_VARIANT:
                reference_probs = probabilities
            confusion[variant.name] = metrics.pop("confusion_matrix")
            results[variant.name] = metrics
            pd.DataFrame(
                {
                    "actual": [labels[i] for i in frame["label"]],
                    "predicted": [labels[i] for i in probabilities.argmax(axis=1)],
                }
            ).to_csv(plots_dir / f"{variant.name}.csv", index=False)
    reference = results[REFERENCE_VARIANT]
    for metrics in results.values():
        reasons = gate(metrics, reference, params.validate_, standin)
        metrics["passed"] = not reasons
        metrics["failed_because"] = reasons
    validation = Validation(
        standin=standin,
        model=info["id"],
        examples=len(frame),
        gate=Gate(
            max_f1_drop=params.validate_.max_f1_drop,
            min_agreement=params.validate_.min_agreement,
            criteria="agreement only (stand-in model)" if standin else "macro-F1 drop and agreement",
        ),
        passed=[name for name, metrics in results.items() if metrics["passed"]],
        variants={name: VariantValidation.model_validate(metrics) for name, metrics in results.items()},
    )
    return validation, confusion


def main() -> None:
    parser = stage_parser(__doc__, model=MODEL_DIR, variants=VARIANTS_DIR, dataset=DATASET_DIR, results=RESULTS_DIR)
    args = parser.parse_args()
    params = load_params(args.params)
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
