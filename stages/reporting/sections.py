"""The report's Markdown sections that are not verdicts: environment, serving limits, capacity, resilience.

Each takes typed results and returns Markdown; none reads a file, so each is tested on small fixtures.
"""

from __future__ import annotations

import numpy as np

from stages.common.cpu_steal import stolen_summary
from stages.common.environment import speed_summary
from stages.common.percentiles import min_requests
from stages.params.resilience import ResilienceParams
from stages.records.capacity import Capacity
from stages.records.limits import Limits
from stages.records.loadtest import LoadtestIndex
from stages.records.resilience import Resilience
from stages.reporting.failover import failover_table, loads_line
from stages.reporting.markdown import fmt, percent_cell, spread_cell, table
from stages.serving.startup import PHASES


def speed_line(speeds: list[dict[str, float]], limits: Limits) -> str:
    """The machine's speed fingerprints (one per load test) against the README's reference machine, with the raw
    in-process bs1 p50 of each served variant (limits): the figures to check before setting results from two
    machines side by side."""
    raw = ", ".join(f"{service.variant} {fmt(service.raw.bs1_latency_ms.p50)} ms"
                    for service in limits.services.values())
    if not speeds:
        return f"- Speed: not recorded (results from before the fingerprint); raw in-process bs1 p50: {raw}\n"
    return (f"- Speed at the end of each of the {len(speeds)} load tests (median, range; a slowdown above 1 is "
            f"slower): {speed_summary(speeds)}; raw in-process bs1 p50: {raw}\n")


def environment_section(indexes: list[LoadtestIndex], limits: Limits) -> str:
    runs_index = indexes[0]
    env = runs_index.environment
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in env["cpu_flags"].items())
    libraries = ", ".join(f"{name} {version}" for name, version in env["libraries"].items() if version)
    speeds = [speed for index in indexes if isinstance(speed := index.environment.get("speed"), dict)]
    stolen = stolen_summary([run.cpu_stolen for index in indexes for run in index.runs])
    return (f"- CPU: {env['cpu_model']}, {env['cores']} cores, generator affinity {env['affinity']}\n"
            + speed_line(speeds, limits)
            + (f"- CPU time a hypervisor took from the machine during the load tests' runs: {stolen}\n" if stolen
               else "")
            + probe_line(indexes)
            + f"- ISA: {flags}\n- Python {env['python']} on {env['platform']}\n- Libraries: {libraries}\n"
            f"- git revision {env['git_revision']}, params.yaml sha256 {env['params_sha256']}\n"
            f"- served variants: {runs_index.variants}; stand-in model: {runs_index.standin}\n")


def probe_line(indexes: list[LoadtestIndex]) -> str:
    """What the machine probe (the arms cannot move it) saw per slot, or per run where runs had no slots; and the
    neighbour, where one was switched on."""
    states = [slot.machine for index in indexes for slot in index.slots] or [
        run.machine for index in indexes for run in index.runs if run.machine is not None]
    stolen = [state.probe_stolen for state in states if state.probe_stolen is not None]
    wake = [state.wake_p99_ms for state in states if state.wake_p99_ms is not None]
    neighbours = {index.scenario: index.neighbour for index in indexes if index.neighbour is not None}
    line = ""
    if stolen:
        unit = "slots" if any(index.slots for index in indexes) else "runs"
        line = (f"- The machine probe (`stages/common/probe.py`, independent of the arms' own demand) over "
                f"{len(stolen)} {unit}: {np.median(stolen):.0%} of its busy time stolen, median "
                f"({min(stolen):.0%}-{max(stolen):.0%}); wake-up delay p99 {np.median(wake):.1f} ms median "
                f"({min(wake):.1f}-{max(wake):.1f} ms)\n")
    for scenario, neighbour in neighbours.items():
        line += (f"- A noisy neighbour ran beside `{scenario}`: {neighbour.hogs} CPU hogs busy together in "
                 f"{neighbour.duty:.0%} of random {neighbour.phase_s[0]:g}-{neighbour.phase_s[1]:g} s phases "
                 f"(seed {neighbour.seed})\n")
    return line


def ramp_table(limits: Limits) -> str:
    """Served req/s (shed / failed) at every step of each service's saturation ramp."""
    ramps = {name: service.served.saturation.ramp for name, service in limits.services.items()}
    longest = max(ramps.values(), key=len)
    return table(["service", *(f"{step.concurrency} users" for step in longest)],
                 [[name, *(f"{step.throughput_per_s:.1f} ({step.shed}/{step.errors})" for step in ramp),
                   *["-"] * (len(longest) - len(ramp))] for name, ramp in ramps.items()])


def limits_section(limits: Limits) -> str:
    """What one server costs and sustains: cold start, overhead over the in-process classifier, saturation, and
    the latency of lone requests right after a saturation burst (the dispatcher's learned wait)."""
    rows = []
    for name, service in limits.services.items():
        served = service.served
        before, after = served.low_load_latency_ms.p50, served.low_load_after_saturation_latency_ms.p50
        rows.append([name, service.variant, fmt(service.cold_start_s, 1), fmt(service.raw.bs1_latency_ms.p50),
                     fmt(before), fmt(service.overhead_ms), fmt(served.saturation.throughput_per_s),
                     f"{service.saturation_efficiency:.0%} of raw bs{service.raw.batch_size}",
                     fmt(after), f"{after / before:.1f}x" if after and before else "n/a"])
    return ("One fresh server per service; raw = the same classifier in-process, measured in rounds alternating "
            "with the served measurements. Cold start: `bentoml serve` launched to the first 200 of `/readyz`.\n\n"
            + table(["service", "variant", "cold start s", "raw bs1 p50 ms", "served p50 ms", "overhead ms",
                     "saturation req/s", "saturation efficiency", "p50 after saturation ms", "after / before"],
                    rows)
            + "\nSaturation: the highest concurrency of a closed-loop ramp (1, 2, 4, ... users) whose failed share "
            "(503 shed or other) stays within `limits.max_shed_share`; served and shed requests are counted apart. "
            "At saturation every core is busy, so the CPU that each request costs outside inference (the "
            "server's event loop: HTTP, validation, batching; the load generator on the same machine) is taken "
            "from inference: the efficiency it allows is inference / (inference + event loop + generator), per "
            "request the server handled (per served request beside it). Back: from the end of saturation until "
            "single requests are within 2x the low-load p50, 5 in a row.\n\n"
            + table(["service", "users", "served", "shed", "failed", "inference ms / request",
                     "event loop CPU ms / handled (/ served)", "generator CPU ms / handled (/ served)",
                     "CPU-share bound", "saturation efficiency", "back after s"],
                    [[name, (sat := service.served.saturation).concurrency, sat.ok, sat.shed, sat.errors,
                      fmt(1e3 / service.raw.batch_throughput_per_s, 2),
                      f"{fmt(sat.event_loop_cpu_ms_per_request, 2)} ({fmt(sat.event_loop_cpu_ms_per_served, 2)})",
                      f"{fmt(sat.generator_cpu_ms_per_request, 2)} ({fmt(sat.generator_cpu_ms_per_served, 2)})",
                      "n/a" if service.cpu_share_bound is None else f"{service.cpu_share_bound:.0%}",
                      f"{service.saturation_efficiency:.0%}", fmt(service.served.after_saturation_back_s, 2)]
                     for name, service in limits.services.items()])
            + "\nThe ramp (served req/s, shed / failed at each step):\n\n" + ramp_table(limits)
            + "\nWhere the cold start went (s; the first worker's own log lines, `stages/serving/startup.py`):\n\n"
            + table(["service", *(phase.removesuffix("_s").replace("_", " ") for phase, _, _ in PHASES)],
                    [[name, *(fmt((service.start_breakdown_s or {}).get(phase), 2) for phase, _, _ in PHASES)]
                     for name, service in limits.services.items()]))


P99_CLAIM = min_requests(0.99, 0.99)  # the capacity stage's rule for a p99 claim (MLPerf LoadGen's)


def capacity_section(capacity: Capacity | None) -> str:
    if capacity is None:
        return "No capacity results.\n"
    rows = [[name, s.variant, fmt(s.capacity_per_s, 2) + ("" if s.claim_holds or s.capacity_per_s is None
                                                           else f" (bracket: step < {P99_CLAIM} requests)"),
             f"[{', '.join(fmt(rate, 2) for rate in s.bracket)}]", fmt(s.start_rate, 2), len(s.steps),
             s.short_steps, sum(step.unsent > 0 for step in s.steps),
             stolen_summary([step.cpu_stolen for step in s.steps]) or "-"]
            for name, s in capacity.services.items()]
    ratio = f"{capacity.ratio:.2f}x" if capacity.ratio else "n/a"
    return (f"Objective: p99 from the scheduled time <= {capacity.slo_p99_ms} ms, failed requests <= "
            f"{capacity.max_error_rate:.0%}, failures censored above every served latency. Capacity: the offered "
            f"rate the highest passing step's schedule realised. A failing step stops sending once its failure is "
            f"certain. Capacity ratio optimized / baseline: **{ratio}**."
            "\n\n"
            + table(["service", "variant", "capacity req/s", "bracket [pass, fail] nominal req/s",
                     "first step req/s", "steps", f"steps < {P99_CLAIM} req", "failures decided early",
                     "CPU stolen by a hypervisor"],
                    rows))


def resilience_section(resilience: Resilience | None, settings: ResilienceParams) -> str:
    if resilience is None:
        return "No resilience results.\n"
    rows = []
    for key, fault in resilience.faults.items():
        counted = fault.steady_before or fault.repeats
        rows.append([key, fault.workers or "as built", f"{fault.steady_before}/{fault.repeats}",
                     f"**{fault.verdict}** ({', '.join(fault.verdicts)})",
                     *(spread_cell(figure, counted, digits) for figure, digits in (
                         (fault.failed, 0), (fault.outage_s, 2), (fault.time_to_first_success_s, 2),
                         (fault.time_to_recovery_s, 2))),
                     sum(run.relapses for run in fault.runs),
                     "yes" if fault.recorded_equals_scheduled else "**no**",
                     " ".join(f"[{number}]({run.timeline})" for number, run in enumerate(fault.runs, start=1))])
    notes = "".join(f"\n\nSkipped `{key}`: {reason}." for key, reason in resilience.skipped.items())
    stolen = stolen_summary([run.cpu_stolen for fault in resilience.faults.values() for run in fault.runs])
    if stolen:
        notes += f"\n\nCPU time a hypervisor took from the machine during the fault runs: {stolen}."
    return (f"Target: {resilience.target}, service: {resilience.service}, load: scenario "
            f"`{resilience.scenario}`. Each fault runs {settings.repeats} times on a fresh server, each repeat with "
            "its own seeded schedule, striking at a seeded busy instant between "
            f"{settings.fault_window_s[0]:g} and {settings.fault_window_s[1]:g} s into the run. A good request: "
            f"ok within {settings.slo_ms:g} ms of its scheduled time (the steady-state hypothesis), checked on the "
            "requests answered before the fault (steady before: the repeats where it held; the figures are "
            "medians [range] over those, n where fewer had the figure). Outage: first breaching request after the "
            "fault to the end of the last breach before the recovery; recovered: the answer of the first good "
            f"request that starts {settings.healthy_s:g} s of good requests only; first success: the first ok "
            "answer of a request scheduled in the outage; relapses: breaches after the recovery. Seconds from the "
            "fault, at the requests' resolution. Verdict: held, recovered (within "
            f"{settings.max_recovery_s:g} s), not recovered, or not observed long enough; a fault's verdict is "
            "its worst repeat's.\n\n"
            + table(["fault", "workers", "steady before", "verdict (per repeat)", "failed requests", "outage s",
                     "first success s", "recovered s", "relapses", "recorded = scheduled", "timelines"], rows)
            + sre_table(resilience, settings) + failover_table(resilience, settings) + loads_line(resilience) + notes)


def window_label(seconds: float) -> str:
    """300 -> "5 min", 3600 -> "1 h"."""
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def sre_table(resilience: Resilience, settings: ResilienceParams) -> str:
    """Per fault, what an SRE team pages on (stages/faults/sre.py): availability, burn rates, the would-page
    count, p99 after the fault, recovery after the fault's end, outage severity; medians [range] over the runs
    that passed the generator's audit, with the range's confidence for the median."""
    sre = settings.sre
    windows = [f"{window:g}" for window in sre.windows_s]
    after = [f"{window:g}" for window in sre.after_fault_s]
    rows, levels = [], set()
    for key, fault in resilience.faults.items():
        if fault.availability is None:  # results from before these figures
            continue
        counted = fault.availability.n
        levels.add(f"{fault.availability.confidence:.0%} at n = {counted}" if fault.availability.confidence
                   else f"none at n = {counted}")
        rows.append([key, f"{counted} ({fault.audit_failed} failed the audit)",
                     percent_cell(fault.availability, counted),
                     *(percent_cell(fault.availability_after_fault.get(window), counted) for window in after),
                     *(spread_cell(burn, counted) if (burn := fault.burn_rate.get(window)) else "-"
                       for window in windows),
                     f"{fault.would_page}/{counted}",
                     spread_cell(fault.p99_after_fault_ms, counted, 0) if fault.p99_after_fault_ms else "-",
                     spread_cell(fault.recovered_after_fault_end_s, counted, 2)
                     if fault.recovered_after_fault_end_s else "-",
                     percent_cell(fault.outage_severity, counted)])
    if not rows:
        return ""
    return (f"\n\nIn an SRE's terms, at an objective of {sre.objective:.2%} good requests: availability over the "
            f"run and over the first {', '.join(after)} s after the fault; the error budget's burn rate in the "
            f"worst {' and '.join(window_label(window) for window in sre.windows_s)} window (the run's own traffic "
            "filling a window longer than the run, good outside it); would page: repeats where both burnt at "
            f"{sre.page_burn_rate:g}x or more; p99 of the requests in the first {after[0]} s after the fault "
            "(failures at the timeout); recovered after the fault's end; outage severity: the bad share of the "
            "requests scheduled in the outage. Runs that failed the generator's audit were rerun and enter no "
            f"figure. Each [range] holds the median with the confidence 1 - 2/2^n ({', '.join(sorted(levels))}).\n\n"
            + table(["fault", "runs counted", "availability", *(f"first {window} s" for window in after),
                     *(f"burn {window_label(window)}" for window in sre.windows_s), "would page",
                     f"p99 first {after[0]} s (ms)", "recovered after the fault's end s", "outage severity"], rows))


def drift_caveat(run_date: str) -> str:
    return (f"Measured {run_date} on the machine described below. Absolute figures, and ratios between services, "
            "move between machines and between days on a shared one: compare experiments run on the same machine, "
            "and trust a change only with its verdict, its MDE and the calibration.\n")
