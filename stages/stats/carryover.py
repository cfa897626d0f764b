"""Does a slot inherit anything from the slot before it? Each slot's first request against the rest.

Switchback alternates arms on warm servers, so whatever one arm leaves behind (a busy core, cold caches for the
next model, a batcher's learned wait) would show in the first request the next slot sends and fade after it.
An arm's first requests of its slots are compared with its other requests: the ratio of their medians and a
Mann-Whitney test. A ratio near 1 says nothing carries over at this rate; a clear excess says the slots are too
short or the scenario belongs in ``loadtest.switchback.fresh_per_run``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stages.common.artifacts import SLOT_COLUMN
from stages.records.loadtest import CarryOver

MIN_SLOTS = 5  # fewer first requests than this say nothing


def carryover(records: pd.DataFrame) -> CarryOver | None:
    """The first measured ok request of every slot against the arm's other measured ok requests; None for a run
    without slots, or with fewer than ``MIN_SLOTS`` slots."""
    if SLOT_COLUMN not in records:
        return None
    measured = records[~records["warmup"].to_numpy(bool) & (records["outcome"] == "ok").to_numpy(bool)]
    first = measured.groupby(SLOT_COLUMN)["scheduled_s"].idxmin()
    if len(first) < MIN_SLOTS:
        return None
    is_first = measured.index.isin(first.to_numpy())
    leading, rest = (measured["latency_ms"].to_numpy(float)[mask] for mask in (is_first, ~is_first))
    if not len(rest):
        return None
    test = stats.mannwhitneyu(leading, rest, alternative="two-sided")
    return CarryOver(slots=len(leading), first_p50_ms=float(np.median(leading)), rest_p50_ms=float(np.median(rest)),
                     ratio=float(np.median(leading) / np.median(rest)), p_value=float(test.pvalue))
