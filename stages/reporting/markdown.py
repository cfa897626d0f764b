"""Markdown rendering of results files: tables from typed results, never from live measurements."""

from __future__ import annotations

from collections.abc import Sequence

from stages.common.results import Validation

STANDIN_BANNER = (
    "> **Stand-in model**: randomly initialised weights with the real shapes. Accuracy and F1 are chance; "
    "only agreement, sizes and latencies mean something.\n"
)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for a table cell; missing values show as 'n/a' rather than 'None'."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def variants_table(validation: Validation) -> str:
    """The study's offline table: size, accuracy, F1, agreement, latency and throughput per variant, gate."""
    batch_keys = list(next(iter(validation.variants.values())).latency_ms)
    header = ["variant", "size MiB", "accuracy", "macro-F1", "weighted-F1", "agreement"]
    for key in batch_keys:
        header += [f"{key} p50 ms", f"{key} p99 ms", f"{key} texts/s"]
    header.append("gate")
    rows = []
    for name, m in validation.variants.items():
        row = [name, fmt(m.size_mb), fmt(m.accuracy, 4), fmt(m.f1_macro, 4), fmt(m.f1_weighted, 4),
               fmt(m.agreement, 4)]
        for key in batch_keys:
            row += [fmt(m.latency_ms[key].p50), fmt(m.latency_ms[key].p99), fmt(m.throughput_per_s[key])]
        row.append("pass" if m.passed else "FAIL: " + "; ".join(m.failed_because))
        rows.append(row)
    return table(header, rows)


def confusion_table(matrix: list[list[int]], labels: list[str]) -> str:
    """Rows actual, columns predicted."""
    return table(["", *labels], [[label, *row] for label, row in zip(labels, matrix, strict=True)])


def validation_report(validation: Validation, confusion: dict[str, list[list[int]]], labels: list[str]) -> str:
    """``results/validation.md``: the offline table and one confusion matrix per variant."""
    parts = [f"# Offline validation: {validation.model}, {validation.examples} examples\n"]
    if validation.standin:
        parts.append(STANDIN_BANNER)
    parts.append(variants_table(validation))
    for name, matrix in confusion.items():
        title = f"Confusion matrix, {name} (rows actual, columns predicted):\n\n"
        parts.append(title + confusion_table(matrix, labels))
    return "\n".join(parts)
