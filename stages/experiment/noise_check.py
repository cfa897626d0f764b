"""Does a verdict survive a noisy machine? One scenario's load test and A/A, quiet and beside the neighbour.

``python -m stages.experiment.noise_check [--scenario steady] [--wait-quiet]`` (``make noise-check``) runs the
scenario's whole load test twice with the pipeline's params: once with the machine as quiet as it gets (``--wait-
quiet`` first waits for the quiet probe of :mod:`stages.common.quiet`), once with ``machine.neighbour`` switched on
(CPU hogs busy together in seeded random phases). Each is compared as the compare stage would, and
``results/noise_check/summary.json`` says whether the verdict held: the p50 ratio beside the neighbour within
``--ratio-tolerance`` of the quiet one, its interval at most ``--max-width-ratio`` times as wide (on the log scale),
and the A/A neither faster nor slower in both, and each arm's server CPU per request within 5 % of the quiet one (a
hypervisor's steal and a neighbour's share are not in a process's CPU time, while its latency moves);
``noise_check.png`` draws every block's ratios and the probe per slot.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from pydantic import Field

from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LOGS_DIR,
    RESULTS_DIR,
    read_corpus,
)
from stages.common.cli import configure_logging
from stages.common.cpu_steal import STARVED_SHARE
from stages.common.figures import save_figure
from stages.common.io import read_optional_result, read_result, write_result
from stages.common.probe import correlation_time
from stages.common.quiet import wait_until_quiet
from stages.experiment.loadtest import LoadtestSettings, load_test
from stages.params.base import DEFAULT_PARAMS_PATH, load_params
from stages.records.base import RecordFile, Result
from stages.records.bentos import Bentos
from stages.records.capacity import Capacity
from stages.records.loadtest import LoadtestIndex, Slot
from stages.stats.comparison import ScenarioComparison
from stages.stats.experiment import CANDIDATE, REFERENCE, compare_experiment
from stages.stats.samples import ArmRuns, read_scenario

CONDITIONS = ("quiet", "neighbour")
CHANGE_VERDICTS = ("faster", "slower")
CPU_TOLERANCE = 0.05  # CPU per request, which steal and a neighbour's share do not enter: within 5 % either way


class ConditionResult(Result):
    """One condition's verdicts, the per-block ratios behind them, and what the probe saw per slot."""

    neighbour: dict[str, object] | None
    blocks: int
    p50_ratio: float | None
    p50_ratio_ci: list[float] | None
    p50_verdict: str
    aa_ratio: float | None
    aa_ratio_ci: list[float] | None
    aa_verdict: str
    block_ratios: list[float]
    aa_block_ratios: list[float]
    slot_probe_stolen: list[float | None]
    slot_wake_p99_ms: list[float | None]
    # How long the machine's noise stayed correlated, from the probe's per-slot series (None: not measurable)
    correlation_s: dict[str, float | None] = Field(default_factory=dict)
    # Per arm, over its valid runs: the server's mean CPU ms per request, and the pooled p50 latency (ms)
    cpu_ms_per_request: dict[str, float] = Field(default_factory=dict)
    p50_ms: dict[str, float] = Field(default_factory=dict)


class NoiseCheck(RecordFile):
    scenario: str
    conditions: dict[str, ConditionResult]
    ratio_change: float | None  # neighbour / quiet p50 ratio, minus 1
    width_ratio: float | None  # neighbour / quiet interval width on the log scale
    cpu_change: dict[str, float] = Field(default_factory=dict)  # per arm: neighbour / quiet CPU per request, minus 1
    checks: dict[str, bool]


def with_neighbour(params: LoadtestSettings, on: bool) -> LoadtestSettings:
    neighbour = params.machine.neighbour.model_copy(update={"enabled": on})
    return params.model_copy(update={"machine": params.machine.model_copy(update={"neighbour": neighbour})})


def block_ratios(arms: dict[str, ArmRuns], reference: str, candidate: str) -> list[float]:
    """Per block, the candidate's run p50 over the reference's (blocks where both ran validly)."""
    if reference not in arms or candidate not in arms:
        return []
    paired = sorted(set(arms[reference].runs) & set(arms[candidate].runs))
    return [float(np.median(arms[candidate].runs[block].latencies_ms) /
                  np.median(arms[reference].runs[block].latencies_ms)) for block in paired]


def _primary(data: ScenarioComparison | None) -> tuple[float | None, list[float] | None, str]:
    if data is None or not data.comparable or data.primary is None:
        return None, None, "not comparable" if data is None else data.reason or "not comparable"
    p50 = data.primary["p50"]
    if p50.ratio is None:
        return None, None, p50.verdict
    return p50.ratio.estimate, [p50.ratio.low, p50.ratio.high], p50.verdict


def condition_result(folder: Path, scenario: str, params: LoadtestSettings, capacity: Capacity | None
                     ) -> ConditionResult:
    """Compare the condition's load test as the compare stage would (its scenario alone, and the A/A)."""
    arms = read_scenario(folder)
    chosen = params.model_copy(update={"loadtest": params.loadtest.model_copy(update={"scenarios": [scenario]})})
    detail, _ = compare_experiment({scenario: arms}, chosen, capacity)
    index = read_result(folder / "runs.json", LoadtestIndex)
    ratio, interval, verdict = _primary(detail.scenarios[scenario])
    aa_ratio, aa_interval, aa_verdict = _primary(detail.aa)
    aa_service = params.loadtest.aa.service
    return ConditionResult(
        neighbour=index.neighbour.model_dump() if index.neighbour else None,
        blocks=len(detail.scenarios[scenario].blocks),
        p50_ratio=ratio, p50_ratio_ci=interval, p50_verdict=verdict, aa_ratio=aa_ratio, aa_ratio_ci=aa_interval,
        aa_verdict=aa_verdict, block_ratios=block_ratios(arms, REFERENCE, CANDIDATE),
        aa_block_ratios=block_ratios(arms, aa_service, f"aa-{aa_service}") if aa_service else [],
        slot_probe_stolen=[slot.machine.probe_stolen for slot in index.slots],
        slot_wake_p99_ms=[slot.machine.wake_p99_ms for slot in index.slots],
        correlation_s=slot_correlation(index.slots),
        cpu_ms_per_request={arm: float(np.mean(values)) for arm, values in cpu_by_arm(index).items()},
        p50_ms={arm: float(np.median(np.concatenate(runs.latencies))) for arm, runs in arms.items() if runs.runs})


def cpu_by_arm(index: LoadtestIndex) -> dict[str, list[float]]:
    """Each arm's valid runs' server CPU ms per request."""
    found: dict[str, list[float]] = {}
    for run in index.runs:
        if run.valid and run.cost is not None and run.cost.cpu_ms_per_request is not None:
            found.setdefault(run.service, []).append(run.cost.cpu_ms_per_request)
    return found


def slot_correlation(slots: list[Slot]) -> dict[str, float | None]:
    """How long the probe's stolen share and wake-up delay stayed correlated over the slots in run order (their
    mean wall-clock spacing as the lag unit): a switchback pair must fit well inside it."""
    timed = [slot for slot in slots if slot.started_unix is not None]
    if len(timed) < 2:
        return {}
    spacing = (float(timed[-1].started_unix or 0) - float(timed[0].started_unix or 0)) / (len(timed) - 1)
    series = {"probe_stolen": [slot.machine.probe_stolen for slot in timed],
              "wake_p99_ms": [slot.machine.wake_p99_ms for slot in timed]}
    return {name: correlation_time(np.array([np.nan if value is None else value for value in values]), spacing)
            for name, values in series.items()}


def log_width(interval: list[float] | None) -> float | None:
    return math.log(interval[1] / interval[0]) if interval and interval[0] > 0 else None


def judge(scenario: str, results: dict[str, ConditionResult], tolerance: float, max_width_ratio: float,
          cpu_tolerance: float = CPU_TOLERANCE) -> NoiseCheck:
    quiet, noisy = results["quiet"], results["neighbour"]
    cpu_change = {arm: noisy.cpu_ms_per_request[arm] / value - 1 for arm, value in quiet.cpu_ms_per_request.items()
                  if arm in noisy.cpu_ms_per_request and value > 0}
    change = noisy.p50_ratio / quiet.p50_ratio - 1 if noisy.p50_ratio and quiet.p50_ratio else None
    widths = log_width(quiet.p50_ratio_ci), log_width(noisy.p50_ratio_ci)
    width_ratio = widths[1] / widths[0] if widths[0] and widths[1] is not None else None
    checks = {
        f"p50 ratio with the neighbour within {tolerance:.0%} of quiet":
            change is not None and abs(change) <= tolerance,
        f"its interval at most {max_width_ratio:g}x as wide":
            width_ratio is not None and width_ratio <= max_width_ratio,
        "A/A neither faster nor slower, quiet": quiet.aa_verdict not in CHANGE_VERDICTS,
        "A/A neither faster nor slower, with the neighbour": noisy.aa_verdict not in CHANGE_VERDICTS,
        **{f"{arm} CPU per request with the neighbour within {cpu_tolerance:.0%} of quiet": abs(moved) <= cpu_tolerance
           for arm, moved in cpu_change.items()},
    }
    return NoiseCheck(scenario=scenario, conditions=results, ratio_change=change, width_ratio=width_ratio,
                      checks=checks, cpu_change=cpu_change)


def plot(check: NoiseCheck, out: Path) -> None:
    """Per block, the p50 ratios (optimized / baseline, and the A/A's) in both conditions; per slot, the probe's
    wake-up delay (p99)."""
    figure, (ratios, probe) = plt.subplots(1, 2, figsize=(11, 4))
    for offset, (name, result) in enumerate(check.conditions.items()):
        colour = ("tab:blue", "tab:red")[offset]
        blocks = np.arange(len(result.block_ratios))
        ratios.plot(blocks, result.block_ratios, "o-", color=colour, label=f"optimized / baseline, {name}")
        ratios.plot(np.arange(len(result.aa_block_ratios)), result.aa_block_ratios, "s--", color=colour, alpha=0.6,
                    label=f"A/A, {name}")
        if result.p50_ratio_ci:
            ratios.axhspan(*result.p50_ratio_ci, color=colour, alpha=0.12)
        wake = [value if value is not None else np.nan for value in result.slot_wake_p99_ms]
        probe.plot(np.arange(len(wake)), wake, ".", color=colour, markersize=3, label=name)
    ratios.set(yscale="log", xlabel="block", ylabel="p50 ratio (log scale; band: 95 % CI)",
               title=f"{check.scenario}: per-block ratios, quiet vs neighbour")
    ratios.xaxis.set_major_locator(MaxNLocator(integer=True))
    ratios.legend(fontsize=7)
    probe.set(yscale="log", xlabel="slot (in run order)", ylabel="probe wake-up delay p99 (ms, log)",
              title="the machine per slot, seen by the probe")
    probe.legend(fontsize=7)
    save_figure(figure, out)


def main(argv: list[str] | None = None) -> None:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--bentos", type=Path, default=BENTOS_JSON)
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR)
    parser.add_argument("--capacity", type=Path, default=CAPACITY_JSON)
    parser.add_argument("--scenario", default="steady")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "noise_check")
    parser.add_argument("--wait-quiet", action="store_true", help="wait for a quiet machine before the quiet run")
    parser.add_argument("--ratio-tolerance", type=float, default=0.10)
    parser.add_argument("--max-width-ratio", type=float, default=2.0)
    parser.add_argument("--from-runs", action="store_true", help="judge the load tests already under --out again")
    args = parser.parse_args(argv)
    params = load_params(LoadtestSettings, args.params)
    capacity = read_optional_result(args.capacity, Capacity)
    results = {}
    for condition in CONDITIONS:
        chosen = with_neighbour(params, condition == "neighbour")
        folder = args.out / condition / args.scenario
        if not args.from_runs:
            if condition == "quiet" and args.wait_quiet:
                wait_until_quiet(STARVED_SHARE)
            print(f"noise check: {args.scenario}, {condition}", file=sys.stderr, flush=True)
            shutil.rmtree(folder, ignore_errors=True)  # no run of an earlier check may stay beside this one's
            load_test(args.scenario, chosen, read_result(args.bentos, Bentos), read_corpus(args.dataset / CORPUS_FILE),
                      capacity, (folder, LOGS_DIR / "noise_check" / condition), args.params)
        results[condition] = condition_result(folder, args.scenario, chosen, capacity)
    check = judge(args.scenario, results, args.ratio_tolerance, args.max_width_ratio)
    write_result(args.out / "summary.json", check)
    plot(check, args.out / "noise_check.png")
    lines = [f"{name}: p50 ratio {r.p50_ratio or float('nan'):.3f} {r.p50_ratio_ci} {r.p50_verdict}; A/A "
             f"{r.aa_ratio or float('nan'):.3f} {r.aa_ratio_ci} {r.aa_verdict}; CPU ms per request "
             + ", ".join(f"{arm} {value:.2f}" for arm, value in r.cpu_ms_per_request.items())
             + "; p50 ms " + ", ".join(f"{arm} {value:.1f}" for arm, value in r.p50_ms.items())
             for name, r in results.items()]
    print("\n".join(lines))
    change, width = check.ratio_change or float("nan"), check.width_ratio or float("nan")
    print(f"noise check: {sum(check.checks.values())}/{len(check.checks)} checks hold; ratio {change:+.1%} with the "
          f"neighbour, interval x{width:.2f} -> {args.out / 'summary.json'}")


if __name__ == "__main__":
    main()
