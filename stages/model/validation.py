"""Accuracy, agreement, size and in-process latency of every variant, and the accuracy gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field
from tqdm import tqdm

from stages.common.artifacts import (
    EVAL_FILE,
    dataset_labels,
    model_info,
)
from stages.common.errors import ServebenchError
from stages.model.classifier import SentimentClassifier
from stages.model.latency import interleaved_rounds, round_summary
from stages.model.metrics import classification_metrics
from stages.model.variants import REFERENCE_VARIANT, produced_variants
from stages.params.base import StageParams
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams
from stages.params.validate import LatencyParams, ValidateParams
from stages.records.validation import Gate, Validation, VariantValidation

MIB = 2**20


class ValidateSettings(StageParams):
    """The sections the validate stage reads."""

    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    tokenizer: TokenizerParams = TokenizerParams()
    runtime: RuntimeParams = RuntimeParams()


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


def score_variant(classifier: SentimentClassifier, frame: pd.DataFrame, batch_size: int,
                  reference_probs: np.ndarray | None, labels: list[str]) -> tuple[dict, np.ndarray]:
    """Accuracy metrics of one variant and its probabilities on the evaluation set."""
    if classifier.labels != labels:
        raise ServebenchError(f"model labels {classifier.labels} differ from dataset labels {labels}")
    probabilities = predict_in_batches(classifier, frame["text"].tolist(), batch_size)
    reference = probabilities if reference_probs is None else reference_probs
    return classification_metrics(frame["label"].to_numpy(), probabilities, reference, labels), probabilities


def time_variants(classifiers: dict[str, SentimentClassifier], texts: list[str], settings: LatencyParams,
                  progress: tqdm) -> dict[str, dict[str, dict]]:
    """Latency and throughput of every variant at each batch size, timed in interleaved rounds."""
    rng = np.random.default_rng(0)
    timings: dict[str, dict[str, dict]] = {name: {"latency_ms": {}, "throughput_per_s": {}} for name in classifiers}
    for batch_size in settings.batch_sizes:
        batch = [texts[i] for i in rng.choice(len(texts), size=batch_size, replace=batch_size > len(texts))]
        predictors = {name: classifier.predict_proba for name, classifier in classifiers.items()}
        timing = interleaved_rounds(predictors, batch, settings.rounds, settings.repeats, settings.warmup,
                                    settings.max_seconds)
        for name, rounds in timing.by_round.items():
            summary = round_summary(rounds, settings.max_round_cv)
            timings[name]["latency_ms"][f"bs{batch_size}"] = summary
            timings[name]["throughput_per_s"][f"bs{batch_size}"] = batch_size / ((summary.p50 or np.nan) / 1e3)
        progress.update(1)
    return timings


def validate_variants(
    params: ValidateSettings, model_dir: Path, variants_dir: Path, dataset_dir: Path, plots_dir: Path
) -> tuple[Validation, dict[str, list[list[int]]]]:
    """Evaluate every produced variant and write confusion-matrix plot data.

    Returns the ``validation.json`` body (DVC metrics: scalars only) and the confusion matrices by variant.
    """
    frame = pd.read_parquet(dataset_dir / EVAL_FILE)
    labels = dataset_labels(dataset_dir)
    info = model_info(model_dir)
    standin = info.standin
    variants = produced_variants(model_dir, variants_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    confusion: dict[str, list[list[int]]] = {}
    classifiers: dict[str, SentimentClassifier] = {}
    reference_probs: np.ndarray | None = None
    with tqdm(total=len(variants) + len(params.validate_.latency.batch_sizes), desc="validate",
              unit="step") as progress:
        for variant in variants:  # the reference variant comes first
            progress.set_postfix_str(variant.name)
            classifiers[variant.name] = SentimentClassifier.load(variant, model_dir, params.tokenizer, params.runtime)
            metrics, probabilities = score_variant(classifiers[variant.name], frame, params.validate_.batch_size,
                                                   reference_probs, labels)
            if variant.name == REFERENCE_VARIANT:
                reference_probs = probabilities
            confusion[variant.name] = metrics.pop("confusion_matrix")
            results[variant.name] = metrics | {"size_mb": variant.size_bytes / MIB}
            pd.DataFrame(
                {
                    "actual": [labels[i] for i in frame["label"]],
                    "predicted": [labels[i] for i in probabilities.argmax(axis=1)],
                }
            ).to_csv(plots_dir / f"{variant.name}.csv", index=False)
            progress.update(1)
        progress.set_postfix_str("timing, interleaved")
        timings = time_variants(classifiers, frame["text"].tolist(), params.validate_.latency, progress)
    for name, timing in timings.items():
        results[name] |= timing
    reference = results[REFERENCE_VARIANT]
    for metrics in results.values():
        reasons = gate(metrics, reference, params.validate_, standin)
        metrics["passed"] = not reasons
        metrics["failed_because"] = reasons
    validation = Validation(
        standin=standin,
        model=info.id,
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
