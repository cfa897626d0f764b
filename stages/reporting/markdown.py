"""Markdown rendering of results files: tables from typed results, never from live measurements."""

from __future__ import annotations

from collections.abc import Sequence

from stages.records.base import LatencyStats
from stages.records.resilience import Spread
from stages.records.validation import Validation

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


def spread_cell(spread: Spread, repeats: int, digits: int = 1) -> str:
    """Median [low, high] over the repeats that had the figure, with their count when not all did."""
    if spread.median is None:
        return "-"
    count = "" if spread.n == repeats else f" (n={spread.n})"
    return f"{spread.median:.{digits}f} [{spread.low:.{digits}f}, {spread.high:.{digits}f}]{count}"


def percent_cell(spread: Spread | None, repeats: int) -> str:
    if spread is None or spread.median is None:
        return "-"
    count = "" if spread.n == repeats else f" (n={spread.n})"
    return f"{spread.median:.1%} [{spread.low:.1%}, {spread.high:.1%}]{count}"


def latency_cells(stats: LatencyStats) -> list[str]:
    """p50 with its CI across rounds, the rounds' spread (flagged when disturbed), and p99 where the calls back
    it, else the max and the count."""
    p50 = fmt(stats.p50)
    if stats.p50_ci is not None:
        p50 += f" [{stats.p50_ci[0]:.1f}, {stats.p50_ci[1]:.1f}]"
    spread = "n/a" if stats.round_cv is None else f"{stats.round_cv:.2f}" + (" **disturbed**" if stats.disturbed
                                                                               else "")
    tail = fmt(stats.p99) if stats.p99 is not None else f"max {fmt(stats.max)} ({stats.count} calls)"
    return [p50, spread, tail]


def variants_table(validation: Validation) -> str:
    """The study's offline table: size, accuracy, F1, agreement, latency and throughput per variant, gate; and
    a warning when a latency figure was disturbed."""
    batch_keys = list(next(iter(validation.variants.values())).latency_ms)
    header = ["variant", "size MiB", "accuracy", "macro-F1", "weighted-F1", "agreement"]
    for key in batch_keys:
        header += [f"{key} p50 ms [95 % CI]", f"{key} round CV", f"{key} p99 ms", f"{key} texts/s"]
    header.append("gate")
    rows = []
    disturbed = False
    for name, m in validation.variants.items():
        row = [name, fmt(m.size_mb), fmt(m.accuracy, 4), fmt(m.f1_macro, 4), fmt(m.f1_weighted, 4),
               fmt(m.agreement, 4)]
        for key in batch_keys:
            row += [*latency_cells(m.latency_ms[key]), fmt(m.throughput_per_s[key])]
            disturbed = disturbed or bool(m.latency_ms[key].disturbed)
        row.append("pass" if m.passed else "FAIL: " + "; ".join(m.failed_because))
        rows.append(row)
    note = ("\n> **Disturbed timing**: the medians of some variant's rounds spread beyond "
            "`validate.latency.max_round_cv`; another load shared the machine. The interleaved rounds keep the "
            "comparison fair, but rerun `dvc repro validate` on a quiet machine before quoting absolute figures.\n"
            if disturbed else "")
    return table(header, rows) + note


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
