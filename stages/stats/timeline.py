"""A run's outcomes per whole second: the series behind every fault timeline (a figure, a CSV, the report).

Seconds without any event are rows of zeros, not gaps: a line must not bridge an outage in which nothing
succeeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def per_second(times: pd.Series, span_s: int, origin_s: float = 0.0) -> pd.Series:
    """Events per whole second from ``origin_s`` over ``span_s`` seconds; seconds without any count 0 (a line must
    not bridge an outage in which nothing succeeded)."""
    seconds = np.floor(times.dropna().to_numpy(float) - origin_s).astype(int)
    counts = pd.Series(seconds).value_counts()
    first = int(np.floor(-origin_s))
    return counts.reindex(range(first, first + span_s), fill_value=0).astype(int)


def fault_timeline(records: pd.DataFrame, fault_s: float) -> pd.DataFrame:
    """Ok responses and failed requests per second of one faulted run, by whole seconds from the fault."""
    end = float(np.nanmax([records["scheduled_s"].max(), records["done_s"].max()]))
    span = int(np.ceil(end)) + 1
    ok = records["outcome"] == "ok"
    return pd.DataFrame({
        "ok_per_s": per_second(records.loc[ok, "done_s"], span, fault_s),
        "failed_per_s": per_second(records.loc[~ok, "scheduled_s"], span, fault_s),
    }).rename_axis("from_fault_s").reset_index()


def fault_timelines(runs: dict[str, list[pd.DataFrame]], column: str) -> pd.DataFrame:
    """One column per fault: the median over its repeats of ``column`` per second from the fault (outer-joined
    seconds; a repeat that has no such second does not count)."""
    medians = {fault: pd.concat([run.set_index("from_fault_s")[column] for run in timelines], axis=1).median(axis=1)
               for fault, timelines in runs.items() if timelines}
    return pd.DataFrame(medians).rename_axis("from_fault_s").reset_index()
