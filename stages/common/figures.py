"""Headless figure helpers every figure shares: saving, and one colour per service in every figure; the
generator's fidelity figure (realised against target inter-arrival gaps) is drawn here too, so the load
generator's CLI and the report draw it alike."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def readable_log_axes(figure: plt.Figure) -> None:
    """Every log axis labelled in plain numbers at 1, 2 and 5 of each decade (only at the decades where it spans
    more than 2.5 of them), its minor ticks unlabelled: matplotlib's default labels every minor tick of a short
    log axis as "2x10^1 3x10^1 ...", which overlap."""
    for axis in figure.axes:
        for scaled, limits in ((axis.xaxis, axis.get_xlim()), (axis.yaxis, axis.get_ylim())):
            if scaled.get_scale() != "log" or min(limits) <= 0:
                continue
            decades = np.log10(max(limits) / min(limits))
            scaled.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0,) if decades > 2.5 else (1.0, 2.0, 5.0)))
            scaled.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            scaled.set_minor_formatter(matplotlib.ticker.NullFormatter())


def save_figure(figure: plt.Figure, out: Path) -> None:
    readable_log_axes(figure)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


SERVICE_COLOURS = {"baseline": "tab:blue", "optimized": "tab:orange"}
OTHER_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:pink")


def service_colour(label: str) -> str:
    """One colour per service in every figure: "optimized #2" and "aa-optimized" runs are told apart by line
    style and legend, never by taking another service's colour."""
    service = label.split(" ")[0]
    if service in SERVICE_COLOURS:
        return SERVICE_COLOURS[service]
    return OTHER_COLOURS[sum(map(ord, service)) % len(OTHER_COLOURS)]


def plot_gap_cdfs(curves: list[tuple[str, pd.DataFrame]], title: str, out: Path) -> None:
    """Every run's realised gap ECDF as a thin line of its service's colour (one legend entry per service)
    against the target CDF, on a log time axis."""
    figure, axis = plt.subplots(figsize=(6.5, 4))
    labelled: set[str] = set()
    for label, frame in curves:
        service = label.split(" ")[0]
        axis.step(frame["gap_s"] * 1000, frame["realised_cdf"], where="post", linewidth=0.8, alpha=0.6,
                  color=service_colour(label), label=None if service in labelled else f"realised, {service} runs")
        labelled.add(service)
    if curves:
        axis.plot(curves[0][1]["gap_s"] * 1000, curves[0][1]["target_cdf"], "k--", linewidth=1.5,
                  label="target distribution")
    axis.set(xscale="log", ylim=(0, 1.01), xlabel="gap between consecutive sends (ms, log scale)",
             ylabel="share of gaps at most this long", title=title)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="upper left")
    save_figure(figure, out)
