"""Figures of the results: PNG files next to the data they show, drawn headless."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from stages.loadgen.arrivals import ArrivalSpec, density_curves


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
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def plot_cdfs(latencies: dict[str, list], title: str, out: Path) -> None:
    """Empirical latency CDF per service (pooled valid runs), log-scaled latency."""
    import numpy as np

    figure, axis = plt.subplots(figsize=(6, 4))
    for service, runs in latencies.items():
        values = np.sort(np.concatenate(runs)) if runs else np.array([])
        if len(values):
            axis.plot(values, np.arange(1, len(values) + 1) / len(values), label=service)
    axis.set(xscale="log", xlabel="latency from scheduled time (ms)", ylabel="fraction of requests", title=title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def plot_percentiles(table: dict[str, dict[str, dict[str, float]]], out: Path) -> None:
    """p50/p95/p99 per scenario and service: one bar group per scenario, log scale."""
    import numpy as np

    scenarios = list(table)
    services = sorted({service for row in table.values() for service in row})
    stats = ("p50", "p95", "p99")
    figure, axes = plt.subplots(1, len(stats), figsize=(4 * len(stats), 4), sharey=True)
    width = 0.8 / max(len(services), 1)
    for axis, stat in zip(np.atleast_1d(axes), stats, strict=True):
        for k, service in enumerate(services):
            values = [table[s].get(service, {}).get(stat, np.nan) for s in scenarios]
            axis.bar(np.arange(len(scenarios)) + k * width, values, width, label=service)
        axis.set(xticks=np.arange(len(scenarios)) + width * (len(services) - 1) / 2, title=stat, yscale="log")
        axis.set_xticklabels(scenarios, rotation=20)
    np.atleast_1d(axes)[0].set_ylabel("latency (ms)")
    np.atleast_1d(axes)[0].legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def per_second(times: pd.Series, records: pd.DataFrame) -> pd.Series:
    """Events per whole second over the run's whole span, seconds without any counted as 0 (a line must not
    bridge an outage in which nothing succeeded)."""
    end = int(np.nanmax([records["scheduled_s"].max(), records["done_s"].max()])) + 1
    return times.dropna().floordiv(1).astype(int).value_counts().reindex(range(end), fill_value=0)


def plot_timelines(runs: list[dict], title: str, out: Path) -> None:
    """Per run: latency of each request by scheduled time, ok throughput per second, dispatcher batch size."""
    figure, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    for run in runs:
        records, timeline, label = run["records"], run["timeline"], run["label"]
        ok = records[records["outcome"] == "ok"]
        axes[0].plot(ok["scheduled_s"], ok["latency_ms"], ".", markersize=2, label=label)
        ok_per_s = per_second(ok["done_s"], records)
        axes[1].step(ok_per_s.index, ok_per_s.values, where="post", label=label)
        if len(timeline) and timeline["mean_batch_size"].notna().any():
            axes[2].plot(timeline["t_s"], timeline["mean_batch_size"], label=label)
    axes[0].set(yscale="log", ylabel="latency (ms)", title=title)
    axes[1].set(ylabel="ok responses / s")
    axes[2].set(ylabel="mean batch size", xlabel="time in run (s)")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, markerscale=4)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def plot_density_runs(curves: list[tuple[str, dict]], title: str, out: Path) -> None:
    """Realised inter-arrival density of every run against the target density."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for label, frame in curves:
        axis.plot(frame["gap_s"], frame["realised_density"], alpha=0.7, label=f"realised, {label}")
    if curves:
        axis.plot(curves[0][1]["gap_s"], curves[0][1]["target_density"], "k--", label="target")
    axis.set(xlabel="inter-arrival time (s)", ylabel="density", title=title)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def plot_fault_timeline(records, fault_s: float, fault_end_s: float, title: str, out: Path) -> None:
    """Latency per request, ok and failed responses per second, with the fault marked."""
    figure, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    ok = records[records["outcome"] == "ok"]
    failed = records[records["outcome"] != "ok"]
    axes[0].plot(ok["scheduled_s"], ok["latency_ms"], ".", markersize=2)
    axes[0].set(yscale="log", ylabel="latency (ms)", title=title)
    ok_per_s, failed_per_s = per_second(ok["done_s"], records), per_second(failed["scheduled_s"], records)
    axes[1].step(ok_per_s.index, ok_per_s.values, where="post")
    axes[1].set(ylabel="ok responses / s")
    axes[2].bar(failed_per_s.index, failed_per_s.values, width=1.0, align="edge", color="tab:red")
    axes[2].set(ylabel="failed requests / s", xlabel="time on the schedule (s)")
    for axis in axes:
        axis.axvspan(fault_s, max(fault_end_s, fault_s + 0.1), color="tab:orange", alpha=0.3)
        axis.axvline(fault_s, color="tab:orange")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
