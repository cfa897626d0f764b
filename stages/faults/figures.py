"""The figure of one fault run, drawn by the resilience stage beside its records."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")  # headless, before pyplot loads
import matplotlib.pyplot as plt
import matplotlib.ticker

from stages.common.figures import save_figure
from stages.stats.timeline import fault_timeline


def plot_fault_timeline(records: pd.DataFrame, fault_s: float, fault_end_s: float, title: str, out: Path,
                        marks: dict[str, float | None] | None = None) -> None:
    """One fault run, seconds from the fault: latency per request by scheduled time (log), ok answers per second
    by completion time, failed requests per second by outcome (by scheduled time); the fault's span shaded and
    ``marks`` (e.g. outage end, recovery, in seconds from the fault) drawn as labelled lines."""
    figure, axes = plt.subplots(3, 1, figsize=(8, 7.5), sharex=True)
    ok = records[records["outcome"] == "ok"]
    failed = records[records["outcome"] != "ok"]
    counts = fault_timeline(records, fault_s)
    axes[0].plot(ok["scheduled_s"] - fault_s, ok["latency_ms"], ".", markersize=2, color="tab:blue",
                 label="ok request (by scheduled time)")
    axes[0].set(yscale="log", ylabel="latency (ms, log)", title=title)
    axes[1].step(counts["from_fault_s"], counts["ok_per_s"], where="post", color="tab:blue")
    axes[1].set(ylabel="ok answers / s\n(by completion time)")
    if len(failed):
        bins = np.arange(np.floor(counts["from_fault_s"].min()), counts["from_fault_s"].max() + 2)
        outcomes = sorted(failed["outcome"].astype(str).unique())
        axes[2].hist([failed.loc[failed["outcome"] == outcome, "scheduled_s"] - fault_s for outcome in outcomes],
                     bins=bins, stacked=True, label=outcomes)
        axes[2].legend(fontsize=7, title="failed by outcome", title_fontsize=7)
    axes[2].set(ylabel="failed requests / s\n(by scheduled time)", xlabel="seconds from the fault")
    axes[2].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for axis in axes:
        axis.axvspan(0.0, max(fault_end_s - fault_s, 0.05), color="tab:orange", alpha=0.25,
                     label="fault injected" if axis is axes[0] else None)
        for (name, at), colour in zip((marks or {}).items(), ("tab:red", "tab:green", "tab:purple"), strict=False):
            if at is not None:
                axis.axvline(at, color=colour, linewidth=1, linestyle="--", label=name if axis is axes[0] else None)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right", markerscale=3)
    save_figure(figure, out)
