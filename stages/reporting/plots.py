"""Figures of the results: PNG files next to the data they show, drawn headless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")  # headless, before pyplot loads
import matplotlib.pyplot as plt
import matplotlib.ticker

from stages.common.figures import save_figure, service_colour
from stages.stats.timeline import fault_timeline


def plot_served_fraction(frame: pd.DataFrame, title: str, out: Path) -> None:
    """Share of all measured requests answered ok within each latency (:func:`series.served_fraction`): a curve
    that stops below 1 shows the failed share. Beside it the complement, slower than each latency or failed, on
    a log axis: where p99 (0.01) and p99.9 (0.001) are read."""
    figure, (served, slower) = plt.subplots(1, 2, figsize=(11, 4))
    for arm in frame.columns.drop("latency_ms"):
        style = {"color": service_colour(arm), "linestyle": "--" if arm.startswith("aa-") else "-"}
        served.plot(frame["latency_ms"], frame[arm], label=f"{arm} (ok {frame[arm].iloc[-1]:.0%})", **style)
        slower.plot(frame["latency_ms"], (1 - frame[arm]).clip(lower=1e-5), label=arm, **style)
    for share, name in ((0.01, "p99"), (0.001, "p99.9")):
        slower.axhline(share, color="grey", linewidth=0.8, linestyle=":")
        slower.annotate(name, (1.0, share), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=7)
    served.set(xscale="log", ylim=(0, 1.02), xlabel="latency from scheduled time (ms, log scale)",
               ylabel="share of requests answered ok", title=title)
    slower.set(xscale="log", yscale="log", ylim=(1e-4, 1.1), xlabel="latency from scheduled time (ms, log scale)",
               ylabel="share slower than this, or failed", title="the tail")
    for axis in (served, slower):
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    save_figure(figure, out)


def plot_latency_vs_load(frame: pd.DataFrame, out: Path) -> None:
    """The capacity search's steps: p50 and p99 against offered load with the SLO, and goodput against load."""
    figure, (latency, goodput) = plt.subplots(1, 2, figsize=(11, 4))
    for service, steps in frame.groupby("service"):
        colour = service_colour(str(service))
        latency.plot(steps["offered_per_s"], steps["p99_ms"], "o-", color=colour, label=f"{service} p99")
        latency.plot(steps["offered_per_s"], steps["p50_ms"], "s:", color=colour, label=f"{service} p50")
        goodput.plot(steps["offered_per_s"], steps["goodput_per_s"], "o-", color=colour, label=str(service))
    if len(frame):
        latency.axhline(frame["slo_p99_ms"].iloc[0], color="tab:red", linewidth=1, label="p99 objective")
        top = float(frame["offered_per_s"].max())
        goodput.plot([0, top], [0, top], "k:", linewidth=1, label="goodput = offered")
    latency.set(xscale="log", yscale="log", xlabel="offered load (req/s)", ylabel="latency from schedule (ms)",
                title="latency vs offered load (capacity steps)")
    goodput.set(xlabel="offered load (req/s)", ylabel="ok within the objective (req/s)", title="goodput")
    for axis in (latency, goodput):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    save_figure(figure, out)


def plot_percentiles(table: dict[str, dict[str, dict[str, Any]]], out: Path) -> None:
    """p50/p95/p99 per scenario and arm with their confidence intervals (objects with estimate, low, high; None
    where too few requests stand behind the percentile): points and intervals on a log axis, not bars, whose
    length on a log axis means nothing."""
    scenarios = list(table)
    arms = sorted({arm for row in table.values() for arm in row}, key=lambda arm: (arm.startswith("aa-"), arm))
    stats = ("p50", "p95", "p99")
    figure, axes = plt.subplots(1, len(stats), figsize=(4.2 * len(stats), 1.2 + 0.9 * len(scenarios)), sharey=True)
    step = 0.7 / max(len(arms), 1)
    for axis, stat in zip(np.atleast_1d(axes), stats, strict=True):
        for k, arm in enumerate(arms):
            for row, scenario in enumerate(scenarios):
                if arm not in table[scenario]:
                    continue
                y = row + (k - (len(arms) - 1) / 2) * step
                value = table[scenario][arm].get(stat)
                if value is None:
                    axis.annotate("too few requests", (0.02, y), xycoords=("axes fraction", "data"), fontsize=6,
                                  va="center", color=service_colour(arm))
                    continue
                axis.errorbar(value.estimate, y, xerr=[[value.estimate - value.low], [value.high - value.estimate]],
                              fmt="o", markersize=4, capsize=2, color=service_colour(arm),
                              mfc="white" if arm.startswith("aa-") else service_colour(arm),
                              label=arm if row == next(r for r, s in enumerate(scenarios) if arm in table[s]) else None)
        axis.set(xscale="log", title=f"{stat} with its 95 % CI", xlabel="latency from scheduled time (ms, log)")
        axis.grid(alpha=0.3, which="both", axis="x")
    first = np.atleast_1d(axes)[0]
    first.set(yticks=range(len(scenarios)), ylim=(len(scenarios) - 0.5, -0.5))
    first.set_yticklabels(scenarios)
    first.legend(fontsize=7, loc="lower right")
    figure.suptitle("How slow is each service, per scenario?")
    save_figure(figure, out)


def plot_timelines(runs: list[dict[str, Any]], title: str, out: Path) -> None:
    """Per run, as thin lines of its service's colour (one legend entry per service; an excluded run dashed):
    latency of each request by scheduled time, ok responses and failed requests per second, the dispatcher's
    batch size; the warm-up shaded. The failed panel is drawn only when something failed."""
    failed_any = any((run["records"]["outcome"] != "ok").any() for run in runs)
    panels = 4 if failed_any else 3
    figure, axes = plt.subplots(panels, 1, figsize=(8, 2.4 * panels + 0.6), sharex=True)
    labelled: set[str] = set()
    for run in runs:
        records, timeline, label = run["records"], run["timeline"], run["label"]
        service = label.split(" ")[0]
        colour, style = service_colour(label), "--" if run.get("excluded") else "-"
        legend = None if service in labelled else service
        labelled.add(service)
        ok = records["outcome"] == "ok"
        axes[0].plot(records.loc[ok, "scheduled_s"], records.loc[ok, "latency_ms"], ".", markersize=1.5,
                     alpha=0.5, color=colour, label=legend)
        counts = fault_timeline(records, 0.0)
        axes[1].step(counts["from_fault_s"], counts["ok_per_s"], where="post", color=colour, linestyle=style,
                     linewidth=0.8, alpha=0.7)
        if failed_any:
            axes[2].step(counts["from_fault_s"], counts["failed_per_s"], where="post", color=colour,
                         linestyle=style, linewidth=0.8)
        if len(timeline) and timeline["mean_batch_size"].notna().any():
            axes[-1].plot(timeline["t_s"], timeline["mean_batch_size"], color=colour, linestyle=style,
                          linewidth=0.8, alpha=0.7)
        warmup = records.loc[records["warmup"], "scheduled_s"]
        if len(warmup):
            for axis in axes:
                axis.axvspan(0.0, float(warmup.max()), color="grey", alpha=0.04)
    axes[0].set(yscale="log", ylabel="latency (ms, log)", title=f"{title} (grey: warm-up, not measured)")
    axes[1].set(ylabel="ok responses / s")
    if failed_any:
        axes[2].set(ylabel="failed requests / s")
    axes[-1].set(ylabel="mean batch size", xlabel="time in run, by scheduled time (s)")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, markerscale=6, loc="upper right")
    save_figure(figure, out)
