"""Data series behind the figures, as tables: DVC plots them from CSV (``dvc plots show``/``diff`` overlays two
experiments), and the report's PNGs are drawn from the same frames, so a figure and its data cannot disagree.

Conventions a reader can rely on: latency is from the scheduled time; a failed request never counts as served (a
CDF tops out at the share answered ok, not at 1); seconds without any event are rows of zeros, not gaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.records.capacity import Capacity
from stages.stats.samples import ArmRuns

CDF_POINTS = 200


def latency_vs_load(capacity: Capacity) -> pd.DataFrame:
    """Every capacity step of every service, by offered rate: p50, p99, error rate and goodput, with the SLO."""
    rows = [{"service": name, "offered_per_s": step.offered_per_s or step.rate, "p50_ms": step.p50_ms,
             "p99_ms": step.p99_ms, "error_rate": step.error_rate, "goodput_per_s": step.goodput_per_s,
             "slo_p99_ms": capacity.slo_p99_ms, "passed": step.passed}
            for name, service in capacity.services.items() for step in service.steps]
    columns = ["service", "offered_per_s", "p50_ms", "p99_ms", "error_rate", "goodput_per_s", "slo_p99_ms", "passed"]
    return pd.DataFrame(rows, columns=columns).sort_values(["service", "offered_per_s"], ignore_index=True)


def served_fraction(arms: dict[str, ArmRuns]) -> pd.DataFrame:
    """Per arm, the share of *all* measured requests answered ok within each latency on a shared log grid.

    The arms' latencies are censored at the timeout for failures (:mod:`stages.stats.samples`), so failures are
    the largest values: the first ``n - failures`` sorted latencies are the ok ones.
    """
    pooled = {arm: (np.sort(np.concatenate(runs.latencies)), sum(run.failures for run in runs.runs.values()))
              for arm, runs in arms.items() if runs.runs}
    served = [values[: len(values) - failures] for values, failures in pooled.values()]
    positive = np.concatenate([values[values > 0] for values in served]) if served else np.array([])
    if not len(positive):
        return pd.DataFrame({"latency_ms": []})
    grid = np.geomspace(positive.min(), positive.max(), CDF_POINTS)
    frame = {"latency_ms": grid}
    for (arm, (values, _)), ok in zip(pooled.items(), served, strict=True):
        frame[arm] = np.searchsorted(ok, grid, side="right") / len(values)
    return pd.DataFrame(frame)
