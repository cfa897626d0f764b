"""The cost figure: CPU time per request by scenario and arm with intervals (left), and each arm's mean latency
split into its parts (right, :mod:`stages.loadgen.latency_parts`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, before pyplot loads
import matplotlib.pyplot as plt

from stages.common.figures import save_figure, service_colour
from stages.loadgen.latency_parts import PARTS
from stages.reporting.cost import ArmCost

PART_COLOURS = dict(zip(PARTS, ("tab:gray", "tab:cyan", "tab:olive", "tab:red", "tab:green"), strict=True))
LABELS = dict(zip(PARTS, ("send lag", "outside the app (network, HTTP)", "in the app, not the model (queue, parsing)",
                          "batcher wait", "compute"), strict=True))


def plot_cost(costs: dict[str, dict[str, ArmCost]], parts: dict[str, dict[str, dict[str, float]]], out: Path) -> None:
    """``costs``: scenario -> arm -> its cost; ``parts``: scenario -> arm -> mean ms per latency part."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [(scenario, arm) for scenario, by_arm in costs.items() for arm in by_arm]
    for position, (scenario, arm) in enumerate(labels):
        cost = costs[scenario][arm]
        left.errorbar([cost.cpu_ms], [position], xerr=[[cost.cpu_ms - cost.cpu_low], [cost.cpu_high - cost.cpu_ms]],
                      fmt="o", capsize=3, color=service_colour(arm))
    left.set_yticks(range(len(labels)), [f"{scenario}\n{arm}" for scenario, arm in labels], fontsize=7)
    left.set_xscale("log")
    left.set_xlabel("server CPU ms per request (mean over runs, 95 % interval)")
    left.invert_yaxis()
    split = [(scenario, arm) for scenario, by_arm in parts.items() for arm in by_arm]
    for position, (scenario, arm) in enumerate(split):  # shares of each arm's mean latency: 13 ms and 4 s alike
        means = {part: max(parts[scenario][arm].get(part, 0.0), 0.0) for part in PARTS}
        total, start = sum(means.values()) or 1.0, 0.0
        for part in PARTS:
            right.barh(position, means[part] / total, left=start, color=PART_COLOURS[part],
                       label=LABELS[part] if position == 0 else None)
            start += means[part] / total
        right.text(1.01, position, f"{total:.0f} ms" if total >= 10 else f"{total:.1f} ms", va="center", fontsize=7)
    right.set_yticks(range(len(split)), [f"{scenario}\n{arm}" for scenario, arm in split], fontsize=7)
    right.set_xlim(0, 1.12)
    right.set_xlabel("share of the mean latency of ok requests (Server-Timing); mean at the right")
    right.invert_yaxis()
    if split:
        right.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    else:
        right.text(0.5, 0.5, "no Server-Timing headers recorded", ha="center", transform=right.transAxes)
    save_figure(figure, out)
