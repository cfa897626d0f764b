"""Figures of the results: PNG files next to the data they show, drawn headless."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from stages.loadgen.arrivals import ArrivalSpec, density_curves
from stages.reporting.series import fault_timeline


def _save(figure: plt.Figure, out: Path) -> None:
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def write_density(out: Path, records: pd.DataFrame, spec: ArrivalSpec) -> None:
    """Realised vs target inter-arrival density of one open-loop run, as CSV and PNG: the study's fidelity figure."""
    sent = np.sort(records["sent_s"].dropna().to_numpy())
    curves = density_curves(np.diff(sent), spec)
    pd.DataFrame(curves).to_csv(out / "interarrival.csv", index=False)
    plot_density(curves, f"{spec.process}, rate {spec.rate}/s", out / "interarrival.png")


def plot_density(curves: dict[str, list[float]], title: str, out: Path) -> None:
    """Realised (KDE of send gaps) vs target inter-arrival density."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(curves["gap_s"], curves["realised_density"], label="realised (KDE of send gaps)")
    axis.plot(curves["gap_s"], curves["target_density"], "--", label="target")
    axis.set(xlabel="inter-arrival time (s)", ylabel="density", title=title)
    axis.legend()
    _save(figure, out)


SERVICE_COLOURS = {"baseline": "tab:blue", "optimized": "tab:orange"}
OTHER_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:pink")


def service_colour(label: str) -> str:
    """One colour per service in every figure: "optimized #2" and "aa-optimized" runs are told apart by line
    style and legend, never by taking another service's colour."""
    service = label.split(" ")[0]
    if service in SERVICE_COLOURS:
        return SERVICE_COLOURS[service]
    return OTHER_COLOURS[sum(map(ord, service)) % len(OTHER_COLOURS)]




def plot_served_fraction(frame: pd.DataFrame, title: str, out: Path) -> None:
    """Share of all measured requests answered ok within each latency (:func:`series.served_fraction`): a curve
    that stops below 1 shows the failed share."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for arm in frame.columns.drop("latency_ms"):
        axis.plot(frame["latency_ms"], frame[arm], label=f"{arm} (ok {frame[arm].iloc[-1]:.0%})",
                  color=service_colour(arm), linestyle="--" if arm.startswith("aa-") else "-")
    axis.set(xscale="log", ylim=(0, 1.02), xlabel="latency from scheduled time (ms)",
             ylabel="share of requests answered ok", title=title)
    axis.grid(alpha=0.3)
    axis.legend()
    _save(figure, out)


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
    _save(figure, out)


def plot_percentiles(table: dict[str, dict[str, dict[str, float]]], out: Path) -> None:
    """p50/p95/p99 per scenario and service: one bar group per scenario, log scale."""
    scenarios = list(table)
    services = sorted({service for row in table.values() for service in row})
    stats = ("p50", "p95", "p99")
    figure, axes = plt.subplots(1, len(stats), figsize=(4 * len(stats), 4), sharey=True)
    width = 0.8 / max(len(services), 1)
    for axis, stat in zip(np.atleast_1d(axes), stats, strict=True):
        for k, service in enumerate(services):
            values = [table[s].get(service, {}).get(stat, np.nan) for s in scenarios]
            axis.bar(np.arange(len(scenarios)) + k * width, values, width, label=service,
                     color=service_colour(service))
        axis.set(xticks=np.arange(len(scenarios)) + width * (len(services) - 1) / 2, title=stat, yscale="log")
        axis.set_xticklabels(scenarios, rotation=20)
    np.atleast_1d(axes)[0].set_ylabel("latency (ms)")
    np.atleast_1d(axes)[0].legend()
    _save(figure, out)


def plot_timelines(runs: list[dict], title: str, out: Path) -> None:
    """Per run: latency of each request by scheduled time, ok and failed per second, dispatcher batch size."""
    figure, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    styles = ("-", "--", ":", "-.")
    for number, run in enumerate(runs):
        records, timeline, label = run["records"], run["timeline"], run["label"]
        colour, style = service_colour(label), styles[number % len(styles)]
        ok = records["outcome"] == "ok"
        axes[0].plot(records.loc[ok, "scheduled_s"], records.loc[ok, "latency_ms"], ".", markersize=2, label=label,
                     color=colour)
        counts = fault_timeline(records, 0.0)
        axes[1].step(counts["from_fault_s"], counts["ok_per_s"], where="post", label=label, color=colour,
                     linestyle=style)
        axes[2].step(counts["from_fault_s"], counts["failed_per_s"], where="post", color=colour, linestyle=style)
        if len(timeline) and timeline["mean_batch_size"].notna().any():
            axes[3].plot(timeline["t_s"], timeline["mean_batch_size"], label=label, color=colour, linestyle=style)
    axes[0].set(yscale="log", ylabel="latency (ms)", title=title)
    axes[1].set(ylabel="ok responses / s")
    axes[2].set(ylabel="failed requests / s")
    axes[3].set(ylabel="mean batch size", xlabel="time in run (s)")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, markerscale=4)
    _save(figure, out)


def plot_density_runs(curves: list[tuple[str, dict]], title: str, out: Path) -> None:
    """Realised inter-arrival density of every run against the target density."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for label, frame in curves:
        axis.plot(frame["gap_s"], frame["realised_density"], alpha=0.7, label=f"realised, {label}")
    if curves:
        axis.plot(curves[0][1]["gap_s"], curves[0][1]["target_density"], "k--", label="target")
    axis.set(xlabel="inter-arrival time (s)", ylabel="density", title=title)
    axis.legend(fontsize=7)
    _save(figure, out)


def plot_fault_timeline(records: pd.DataFrame, fault_s: float, fault_end_s: float, title: str, out: Path) -> None:
    """Latency per request, ok and failed per second (:func:`series.fault_timeline`), seconds from the fault."""
    figure, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    ok = records[records["outcome"] == "ok"]
    counts = fault_timeline(records, fault_s)
    axes[0].plot(ok["scheduled_s"] - fault_s, ok["latency_ms"], ".", markersize=2)
    axes[0].set(yscale="log", ylabel="latency (ms)", title=title)
    axes[1].step(counts["from_fault_s"], counts["ok_per_s"], where="post")
    axes[1].set(ylabel="ok responses / s")
    axes[2].bar(counts["from_fault_s"], counts["failed_per_s"], width=1.0, align="edge", color="tab:red")
    axes[2].set(ylabel="failed requests / s", xlabel="seconds from the fault (scheduled time)")
    for axis in axes:
        axis.axvspan(0.0, max(fault_end_s - fault_s, 0.1), color="tab:orange", alpha=0.3)
        axis.axvline(0.0, color="tab:orange")
        axis.grid(alpha=0.3)
    _save(figure, out)
