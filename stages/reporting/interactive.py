"""The HTML report's interactive figures (Plotly): built from the same frames and records as the PNGs, so that a
reader can hover a point for its value, zoom into the seconds around a fault and switch a latency axis between log
and linear. Each builder returns a ``plotly.graph_objects.Figure``; :mod:`stages.reporting.html_report` places it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.colors import to_hex

from stages.common.figures import service_colour
from stages.loadgen.latency_parts import PARTS
from stages.records.loadtest import LoadtestRun, Slot
from stages.records.resilience import FaultRecovery
from stages.reporting.cost import ArmCost
from stages.reporting.cost_figure import LABELS, PART_COLOURS
from stages.stats.samples import ScenarioRuns

MAX_POINTS = 6000  # per timeline figure: every run keeps its shape, the page stays a few MB
FAULT_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def colour(label: str) -> str:
    """The service's colour of the PNG figures, as CSS."""
    return to_hex(service_colour(label))


def log_ticks(low: float = 0.1, high: float = 1e6) -> dict[str, Any]:
    """A log axis labelled at 1, 2 and 5 of every decade in full (20, 50, 100), not Plotly's lone minor digits."""
    values = [mantissa * 10.0**power for power in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))))
              for mantissa in (1, 2, 5)]
    return {"type": "log", "tickmode": "array", "tickvals": values, "ticktext": [f"{value:g}" for value in values]}


def axis_switch(axis: str) -> dict[str, Any]:
    """Buttons above a figure that switch one latency axis between log (1-2-5 labels) and linear."""
    log = {f"{axis}.{key}": value for key, value in log_ticks().items()}
    linear = {f"{axis}.type": "linear", f"{axis}.tickmode": "auto"}
    return {"type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.14, "yanchor": "bottom",
            "showactive": True, "pad": {"r": 0, "t": 0},
            "buttons": [{"label": "log latency", "method": "relayout", "args": [log]},
                        {"label": "linear latency", "method": "relayout", "args": [linear]}]}


def layout(figure: go.Figure, title: str, height: int = 420) -> go.Figure:
    figure.update_layout(title={"text": title, "x": 0, "font": {"size": 15}}, height=height, template="plotly_white",
                         margin={"l": 70, "r": 30, "t": 80, "b": 60}, legend={"font": {"size": 11}},
                         hoverlabel={"namelength": -1})
    return figure


def latency_distribution(served: pd.DataFrame, scenario: str) -> go.Figure:
    """Per arm, the share of all measured requests answered ok within each latency (``series.served_fraction``,
    the DVC plot's data): a curve that stops below 1 shows the failed share."""
    figure = go.Figure()
    for arm in served.columns.drop("latency_ms"):
        figure.add_scatter(x=served["latency_ms"], y=served[arm], mode="lines",
                           name=f"{arm} (ok {served[arm].iloc[-1]:.0%})",
                           line={"color": colour(arm), "dash": "dash" if arm.startswith("aa-") else "solid"},
                           hovertemplate="%{x:.1f} ms: %{y:.1%} answered ok within it<extra>" + arm + "</extra>")
    figure.update_xaxes(**log_ticks(), title="latency from scheduled time (ms)")
    figure.update_yaxes(range=[0, 1.02], title="share of requests answered ok", tickformat=".0%")
    figure.update_layout(updatemenus=[axis_switch("xaxis")])
    return layout(figure, f"Latency distribution per arm, {scenario} (pooled over blocks)")


def thinned(frame: pd.DataFrame, keep: int) -> pd.DataFrame:
    """Every k-th row, so that ``keep`` rows remain at most: the run's shape, not every point."""
    step = max(1, int(np.ceil(len(frame) / max(keep, 1))))
    return frame.iloc[::step]


def run_label(run: LoadtestRun) -> str:
    attempt = f", attempt {run.attempt}" if run.attempt else ""
    return f"{run.service} block {run.repeat}{attempt}" + ("" if run.valid else " (failed the audit)")


def run_timelines(runs: ScenarioRuns, scenario: str) -> go.Figure:
    """Latency of every ok request by scheduled time, one trace per run (legend groups by service: click to hide
    one), failures marked at the top, and what the machine probe saw: the CPU share stolen from it per slot (or
    per run), on the right axis."""
    figure = go.Figure()
    per_run = MAX_POINTS // max(len(runs.index.runs), 1)
    shown: set[str] = set()
    for run in runs.index.runs:
        records = runs.records[run.path]
        measured = records[~records["warmup"].astype(bool)]
        ok = thinned(measured[measured["outcome"] == "ok"], per_run)
        failed = measured[measured["outcome"] != "ok"]
        style = {"color": colour(run.service), "opacity": 0.55 if run.valid else 0.3}
        figure.add_scatter(x=ok["scheduled_s"], y=ok["latency_ms"], mode="markers", name=run.service,
                           legendgroup=run.service, showlegend=run.service not in shown,
                           marker={"size": 3, "symbol": "circle" if run.valid else "circle-open", **style},
                           hovertemplate="%{y:.1f} ms at %{x:.2f} s<extra>" + run_label(run) + "</extra>")
        shown.add(run.service)
        if len(failed):
            figure.add_scatter(x=failed["scheduled_s"], y=np.full(len(failed), float(ok["latency_ms"].max()
                                                                               if len(ok) else 1.0)),
                               mode="markers", name=f"{run.service}: failed", legendgroup=run.service,
                               marker={"symbol": "x", "size": 7, "color": colour(run.service)},
                               customdata=failed["outcome"].astype(str),
                               hovertemplate="failed (%{customdata}) at %{x:.2f} s<extra>" + run_label(run)
                                             + "</extra>")
    probe = probe_points(runs.index.slots, runs.index.runs)
    if len(probe):
        figure.add_scatter(x=probe["t_s"], y=probe["stolen"], mode="markers", yaxis="y2", name="machine probe: "
                           "CPU stolen", marker={"symbol": "line-ew-open", "size": 12, "color": "#555"},
                           customdata=probe["what"], hovertemplate="%{y:.0%} stolen: %{customdata}<extra></extra>")
        top = max(0.2, float(probe["stolen"].max()) * 1.2)
        figure.update_layout(yaxis2={"overlaying": "y", "side": "right", "range": [0, top], "tickformat": ".0%",
                                     "title": "CPU stolen from the probe", "showgrid": False, "zeroline": False,
                                     "tickmode": "auto", "nticks": 6})
    figure.update_xaxes(title="time in run, by scheduled time (s)", rangeslider={"visible": True, "thickness": 0.06})
    figure.update_layout(yaxis={**log_ticks(), "title": "latency (ms)"}, updatemenus=[axis_switch("yaxis")])
    return layout(figure, f"Runs over time, {scenario} (warm-up left out; open markers: a run that failed the "
                          "generator's audit and was rerun)", height=480)


def probe_points(slots: list[Slot], runs: list[LoadtestRun]) -> pd.DataFrame:
    """Stolen share of the probe per slot at the slot's middle (per run where runs had no slots)."""
    rows = [{"t_s": (slot.start_s + slot.end_s) / 2, "stolen": slot.machine.probe_stolen,
             "what": f"block {slot.repeat}, pair {slot.pair}, {slot.arm}'s slot"}
            for slot in slots if slot.machine.probe_stolen is not None]
    if not slots:
        rows = [{"t_s": 0.0, "stolen": run.machine.probe_stolen, "what": f"{run.service} block {run.repeat}"}
                for run in runs if run.machine is not None and run.machine.probe_stolen is not None]
    return pd.DataFrame(rows, columns=["t_s", "stolen", "what"])


def capacity_steps(steps: pd.DataFrame) -> go.Figure:
    """The capacity search's steps (``series.latency_vs_load``): p50 and p99 against offered load, the p99
    objective, pass or fail per step in the hover."""
    figure = go.Figure()
    for service, rows in steps.groupby("service"):
        verdict = np.where(rows["passed"], "passed", "failed")
        for stat, dash in (("p99_ms", "solid"), ("p50_ms", "dot")):
            figure.add_scatter(x=rows["offered_per_s"], y=rows[stat], mode="lines+markers",
                               name=f"{service} {stat.removesuffix('_ms')}",
                               line={"color": colour(str(service)), "dash": dash},
                               customdata=np.stack([verdict, rows["error_rate"], rows["goodput_per_s"]], axis=1),
                               hovertemplate="%{x:.2f} req/s offered: %{y:.0f} ms, step %{customdata[0]}, failed "
                                             "%{customdata[1]:.1%}, goodput %{customdata[2]:.2f} req/s<extra>"
                                             + f"{service} {stat.removesuffix('_ms')}</extra>")
    if len(steps):
        figure.add_hline(y=float(steps["slo_p99_ms"].iloc[0]), line={"color": "#d62728", "width": 1},
                         annotation_text="p99 objective", annotation_position="top left")
    figure.update_xaxes(**log_ticks(), title="offered load (req/s)")
    figure.update_yaxes(**log_ticks(), title="latency from schedule (ms)")
    figure.update_layout(updatemenus=[axis_switch("yaxis")])
    return layout(figure, "Capacity search: latency against offered load, one fresh server per step")


def cost_per_request(costs: dict[str, dict[str, ArmCost]]) -> go.Figure:
    """Server CPU time per request by scenario and arm (mean over valid runs, 95 % interval), split in the hover
    into event loop, inference and the rest."""
    figure = go.Figure()
    for arm in sorted({arm for by_arm in costs.values() for arm in by_arm}):
        rows = [(scenario, by_arm[arm]) for scenario, by_arm in costs.items() if arm in by_arm]
        figure.add_scatter(
            x=[cost.cpu_ms for _, cost in rows], y=[scenario for scenario, _ in rows], mode="markers", name=arm,
            marker={"size": 10, "color": colour(arm), "symbol": "circle-open" if arm.startswith("aa-") else "circle"},
            error_x={"type": "data", "symmetric": False, "array": [cost.cpu_high - cost.cpu_ms for _, cost in rows],
                     "arrayminus": [cost.cpu_ms - cost.cpu_low for _, cost in rows]},
            customdata=[[cost.cpu_low, cost.cpu_high, cost.loop_ms, cost.inference_ms, cost.other_ms, cost.runs]
                        for _, cost in rows],
            hovertemplate="%{x:.1f} ms CPU / request [%{customdata[0]:.1f}, %{customdata[1]:.1f}] over "
                          "%{customdata[5]} runs: event loop %{customdata[2]:.1f}, inference %{customdata[3]:.1f}, "
                          "other %{customdata[4]:.1f} ms<extra>" + arm + "</extra>")
    figure.update_xaxes(**log_ticks(), title="server CPU ms per request (mean over runs, 95 % interval)")
    figure.update_yaxes(autorange="reversed", type="category")
    return layout(figure, "Cost: server CPU time per request", height=160 + 60 * len(costs))


def latency_split(parts: dict[str, dict[str, dict[str, float]]]) -> go.Figure:
    """Each arm's mean latency of ok requests split into its parts (``stages.loadgen.latency_parts``, from the
    answers' Server-Timing headers), as shares of the arm's mean (a 13-ms and a 4-s bar alike readable), the
    milliseconds in the hover."""
    figure = go.Figure()
    rows = [(scenario, arm) for scenario, by_arm in parts.items() for arm in by_arm]
    means = [{part: max(parts[scenario][arm].get(part, 0.0), 0.0) for part in PARTS} for scenario, arm in rows]
    totals = [sum(mean.values()) or 1.0 for mean in means]
    labels = [f"{scenario}: {arm} ({total:.3g} ms)" for (scenario, arm), total in zip(rows, totals, strict=True)]
    for part in PARTS:
        figure.add_bar(y=labels, x=[mean[part] / total for mean, total in zip(means, totals, strict=True)],
                       customdata=[mean[part] for mean in means], name=LABELS[part], orientation="h",
                       marker={"color": to_hex(PART_COLOURS[part])},
                       hovertemplate="%{customdata:.2f} ms (%{x:.0%})<extra>" + LABELS[part] + "</extra>")
    figure.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(range=[0, 1], tickformat=".0%", title="share of the arm's mean latency of ok requests")
    figure.update_yaxes(autorange="reversed")
    return layout(figure, "Where the latency goes (Server-Timing)", height=240 + 36 * len(rows))


def fault_timeline(fault: str, runs: list[tuple[FaultRecovery, pd.DataFrame]]) -> go.Figure:
    """Every repeat of one fault, seconds from the fault (the fault's window shaded): latency per ok request by
    scheduled time, failed requests marked at the top, and where each repeat's outage ended and it recovered."""
    figure = go.Figure()
    longest = 0.05
    for number, (run, records) in enumerate(runs, start=1):
        paint = FAULT_COLOURS[(number - 1) % len(FAULT_COLOURS)]
        at = run.fault_at_s
        longest = max(longest, run.fault_end_s - at)
        ok = records[records["outcome"] == "ok"]
        failed = records[records["outcome"] != "ok"]
        name = f"repeat {number}" + ("" if run.generator_audit_valid else " (failed the audit)")
        figure.add_scatter(x=ok["scheduled_s"] - at, y=ok["latency_ms"], mode="markers", name=name,
                           legendgroup=name, marker={"size": 4, "color": paint},
                           hovertemplate="%{y:.1f} ms, scheduled %{x:.2f} s from the fault<extra>" + name + "</extra>")
        if len(failed):
            figure.add_scatter(x=failed["scheduled_s"] - at, y=np.full(len(failed), run.latency_bound_ms or 1000.0),
                               mode="markers", name=f"{name}: failed", legendgroup=name,
                               marker={"symbol": "x", "size": 8, "color": paint},
                               customdata=failed["outcome"].astype(str),
                               hovertemplate="failed (%{customdata}), scheduled %{x:.2f} s from the fault<extra>"
                                             + name + "</extra>")
        for mark, seconds in (("recovered", run.time_to_recovery_s),):
            if seconds is not None:
                figure.add_vline(x=seconds, line={"color": paint, "dash": "dash", "width": 1})
                figure.add_annotation(x=seconds, y=0.98, yref="paper", text=f"{mark} #{number}", showarrow=False,
                                      font={"size": 10, "color": paint}, yanchor="top", xanchor="left", textangle=-90)
    figure.add_vrect(x0=0.0, x1=longest, fillcolor="#ff7f0e", opacity=0.25, line_width=0,
                     annotation_text="fault", annotation_position="top left")
    if runs and runs[0][0].latency_bound_ms:
        figure.add_hline(y=runs[0][0].latency_bound_ms, line={"color": "#d62728", "width": 1, "dash": "dot"},
                         annotation_text="good-request bound", annotation_position="bottom right")
    figure.update_xaxes(title="seconds from the fault (by scheduled time)",
                        rangeslider={"visible": True, "thickness": 0.06})
    figure.update_yaxes(**log_ticks(), title="latency (ms)")
    figure.update_layout(updatemenus=[axis_switch("yaxis")])
    return layout(figure, f"Fault timeline: {fault} (every repeat; shaded: the fault's window)", height=440)
