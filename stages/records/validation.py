"""``results/validation.json``: the validate stage's accuracy, size and latency of every variant."""

from __future__ import annotations

from stages.records.base import LatencyStats, RecordFile, Result


class VariantValidation(Result):
    accuracy: float
    f1_macro: float
    f1_weighted: float
    f1_per_class: dict[str, float]
    agreement: float
    max_abs_prob_diff: float
    mean_abs_prob_diff: float
    size_mb: float
    latency_ms: dict[str, LatencyStats]  # by batch size key, e.g. "bs1"
    throughput_per_s: dict[str, float]
    passed: bool
    failed_because: list[str]


class Gate(Result):
    max_f1_drop: float
    min_agreement: float
    criteria: str


class Validation(RecordFile):
    standin: bool
    model: str
    examples: int
    gate: Gate
    passed: list[str]
    variants: dict[str, VariantValidation]
