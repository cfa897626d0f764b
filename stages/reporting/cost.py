"""The report's "Cost per request" section: what each arm's server spent per request (CPU time by part, memory,
the generator's CPU beside it), and figures derived from it and from capacity, each stated with its inputs.

CPU time per request is measured (:mod:`stages.serving.process_usage`); everything priced is an estimate from
``params.yaml``'s ``cost`` section: CPU core-seconds per 1,000 requests (1 ms per request is 1 core-second per
1,000), the cores a target rate needs by CPU time alone (a floor: cores at 100 % busy) and by capacity under the
p99 objective (what this machine's cores served within the SLO, scaled), and the price of a million requests (CPU
time at the core price, plus one server's memory held for the time a request takes at capacity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from stages.params.cost import CostParams
from stages.records.capacity import Capacity
from stages.records.limits import Limits
from stages.records.loadtest import LoadtestRun
from stages.reporting.markdown import fmt, table
from stages.stats.samples import ScenarioRuns


@dataclass(frozen=True)
class ArmCost:
    """One arm's cost in one scenario, over its valid runs."""

    runs: int
    cpu_ms: float  # mean CPU ms per request over the runs
    cpu_low: float  # its 95 % t interval over the runs
    cpu_high: float
    loop_ms: float
    inference_ms: float
    other_ms: float
    steady_rss_mb: float | None
    peak_rss_mb: float | None
    generator_ms: float | None


def _mean(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return float(np.mean(known)) if known else None


def arm_costs(runs: ScenarioRuns) -> dict[str, ArmCost]:
    """Per arm, its valid runs' costs, where every one was measured."""
    by_arm: dict[str, list[LoadtestRun]] = {}
    for run in runs.index.runs:
        if run.valid and run.cost is not None and run.cost.cpu_ms_per_request is not None:
            by_arm.setdefault(run.service, []).append(run)
    found = {}
    for arm, measured in sorted(by_arm.items()):
        cpu = np.array([run.cost.cpu_ms_per_request for run in measured if run.cost], float)
        half = (float(stats.t.ppf(0.975, len(cpu) - 1) * cpu.std(ddof=1) / np.sqrt(len(cpu)))
                if len(cpu) > 1 else float("nan"))
        costs = [run.cost for run in measured if run.cost]
        found[arm] = ArmCost(
            runs=len(cpu), cpu_ms=float(cpu.mean()), cpu_low=float(cpu.mean() - half),
            cpu_high=float(cpu.mean() + half),
            loop_ms=_mean([cost.loop_ms_per_request for cost in costs]) or 0.0,
            inference_ms=_mean([cost.inference_ms_per_request for cost in costs]) or 0.0,
            other_ms=_mean([cost.other_ms_per_request for cost in costs]) or 0.0,
            steady_rss_mb=_mean([cost.steady_rss_mb for cost in costs]),
            peak_rss_mb=max((cost.peak_rss_mb for cost in costs if cost.peak_rss_mb is not None), default=None),
            generator_ms=_mean([cost.generator_ms_per_request for cost in costs]))
    return found


def machine_cores(scenarios: dict[str, ScenarioRuns]) -> int:
    """The cores the load tests' machine offered the services (its fingerprint's affinity, else its cores)."""
    for runs in scenarios.values():
        environment = runs.index.environment
        cores = environment.get("affinity") or environment.get("cores")
        if isinstance(cores, list):
            return len(cores)
        if isinstance(cores, int):
            return cores
    return 1


def cores_by_capacity(target_per_s: float, capacity_per_s: float | None, cores: int) -> float | None:
    """Cores a target rate needs if this machine's ``cores`` served ``capacity_per_s`` within the objective."""
    return target_per_s / capacity_per_s * cores if capacity_per_s else None


def price_per_million(cpu_ms: float, rss_mb: float | None, capacity_per_s: float | None, cost: CostParams
                      ) -> float:
    """$ per million requests: their CPU time at the core price, plus a server's memory for the time one
    request occupies it at capacity (none where capacity or memory is unknown)."""
    cpu = cpu_ms / 1e3 / 3600 * cost.core_hour
    memory = (rss_mb / 1024 * cost.gb_hour / 3600 / capacity_per_s
              if rss_mb is not None and capacity_per_s else 0.0)
    return 1e6 * (cpu + memory)


def cost_section(scenarios: dict[str, ScenarioRuns], capacity: Capacity | None, limits: Limits | None,
                 prices: CostParams, cores: int) -> str:
    """The measured table, then the derived one, with the inputs they assume."""
    measured, derived = [], []
    target = prices.target_rate_per_s
    for name, runs in scenarios.items():
        for arm, cost in arm_costs(runs).items():
            measured.append([name, arm, cost.runs, f"{cost.cpu_ms:.2f} [{cost.cpu_low:.2f}, {cost.cpu_high:.2f}]",
                             f"{cost.loop_ms:.2f} / {cost.inference_ms:.2f} / {cost.other_ms:.2f}",
                             fmt(cost.steady_rss_mb, 0), fmt(cost.peak_rss_mb, 0), fmt(cost.generator_ms, 3)])
            served = arm.removeprefix("aa-")  # the A/A arm serves the same Bento as its service
            service = capacity.services.get(served) if capacity else None
            capacity_per_s = service.capacity_per_s if service else None
            raw = (1e3 / limits.services[served].raw.batch_throughput_per_s
                   if limits and served in limits.services and limits.services[served].raw.batch_throughput_per_s
                   else None)
            derived.append([name, arm, f"{cost.cpu_ms:.2f}", f"{target * cost.cpu_ms / 1e3:.2f}",
                            fmt(cores_by_capacity(target, capacity_per_s, cores), 2),
                            f"{price_per_million(cost.cpu_ms, cost.steady_rss_mb, capacity_per_s, prices):.3f}",
                            fmt(raw, 2)])
    if not measured:
        return "No CPU time per request was measured (cluster runs, or load tests from before it was).\n"
    return ("Measured per run on the arm's server process tree (user + system CPU time, which a hypervisor's steal "
            "and a neighbour's share are not in; a switchback block's arm over its own slots), divided by the "
            "requests it answered; mean over valid runs with a 95 % t interval over runs (the kernel counts CPU in "
            "10-ms ticks: a short run's figure is coarse). Split: BentoML's event loop (the workers' main threads) / "
            "inference (their other threads) / other processes (supervisor).\n\n"
            + table(["scenario", "arm", "runs", "CPU ms per request", "loop / inference / other ms",
                     "RSS MB (median)", "RSS MB (peak)", "generator CPU ms per request"], measured)
            + f"\n**Estimates** from those and params.yaml's `cost` (${prices.core_hour:g} per core-hour, "
            f"${prices.gb_hour:g} per GB-hour, a target of {target:g} req/s), capacity under the p99 objective "
            f"on this machine's {cores} cores: core-seconds per 1,000 requests equal CPU ms per request; cores at "
            "100 % busy = target x CPU per request (a floor); cores by capacity = target / capacity x cores; $ per "
            "million requests = their CPU time at the core price plus one server's median RSS for the time one "
            "request takes at capacity. Beside, 1 / the in-process batch throughput (limits): the model's own time "
            "per request with no serving stack; CPU per request above it is what serving adds (threads aside).\n\n"
            + table(["scenario", "arm", "core-s per 1,000 requests", f"cores for {target:g} req/s (CPU floor)",
                     f"cores for {target:g} req/s (by capacity)", "$ per million requests (estimate)",
                     "in-process ms per request"], derived))
