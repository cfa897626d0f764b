"""loadtest stage: baseline vs optimized under one scenario, repeats interleaved, a fresh server per run.

``python -m stages.loadtest --scenario NAME``. The same seeded schedule and payloads go to both services; the order
of the arms within each repeat (a block) is drawn from ``loadtest.seed`` (A B, B A, ...), so a drift of the
machine's speed does not favour one of them. In the A/A check's scenario (``loadtest.aa``) one service runs twice
per block: its second arm is ``aa-<service>``, the same Bento on a fresh server. Every run writes its records,
summary (with the fidelity audit) and server metrics under ``<out>/<arm>/run-<k>/``; a run that fails the audit
stays, marked with its reasons, and is rerun in its block (``loadtest.max_reruns``, folders ``run-<k>-rerun-<a>``),
so an exclusion costs a rerun, not a block. With ``loadtest.target: cluster`` each run deploys the arm in a
Kubernetes cluster and sends from an Indexed Job of generator pods (:mod:`stages.cluster`). ``runs.json`` lists
every run with its validity, the environment fingerprint and the offered load: a rate stated relative to a service's
capacity (``rate: {of: baseline, fraction: 0.5}``) is resolved from ``results/capacity.json`` first. With
``loadtest.repeats: auto`` blocks are added until both primary verdicts can detect ``loadtest.auto``'s target
changes (:mod:`stages.stats.sizing`) or its budget is spent.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stages.cluster.run import cluster_served_run
from stages.common.artifacts import (
    BENTOS_JSON,
    CAPACITY_JSON,
    CORPUS_FILE,
    DATASET_DIR,
    LOGS_DIR,
    RUNS_INDEX,
    aa_arm,
    read_corpus,
)
from stages.common.cli import run_stage, stage_parser
from stages.common.environment import fingerprint
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import CompareParams, Params, ScenarioParams, load_params
from stages.common.results import Bentos, Capacity, LoadSummary, LoadtestIndex, LoadtestRun, OfferedLoad
from stages.common.signals import cleanup_on_signals
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.relative import describe, offered_load, resolve
from stages.loadgen.run import one_line, scenario_summary, write_run
from stages.reporting.plots import write_density
from stages.serving.runs import served_run
from stages.stats.arms import compare_arms
from stages.stats.samples import ScenarioRuns, group_by_arm
from stages.stats.sizing import relative_mde

SERVER_START_ESTIMATE_S = 20.0  # model load and warm-up, for the ETA only


def run_order(arms: list[str], repeats: int, seed: int) -> list[tuple[int, str]]:
    """(repeat, arm) in run order: every repeat holds each arm once, in a seeded shuffled order."""
    rng = random.Random(seed)
    order = []
    for repeat in range(repeats):
        block = list(arms)
        rng.shuffle(block)
        order += [(repeat, arm) for arm in block]
    return order


def scenario_arms(params: Params, scenario: str) -> dict[str, str]:
    """Arm name -> the service (Bento) it serves: every service, plus the A/A arm in the A/A scenario."""
    arms = {service: service for service in params.loadtest.services}
    aa = params.loadtest.aa
    if aa.service is not None and params.loadtest.aa_scenario == scenario:
        arms[aa_arm(aa.service)] = aa.service
    return arms


def run_folder(arm: str, repeat: int, attempt: int) -> str:
    """A run's folder under the scenario's: ``<arm>/run-<k>``, reruns ``<arm>/run-<k>-rerun-<a>``."""
    return f"{arm}/run-{repeat}" + (f"-rerun-{attempt}" if attempt else "")


@dataclass
class Scenario:
    """One scenario's load test as it proceeds: its settings and every run done so far, with records."""

    name: str
    params: Params
    settings: ScenarioParams
    bentos: Bentos
    texts: list[str]
    out: Path
    arms: dict[str, str]
    offered: OfferedLoad
    logs: Path
    runs: list[LoadtestRun] = field(default_factory=list)
    records: dict[str, pd.DataFrame] = field(default_factory=dict)
    summaries: dict[str, LoadSummary] = field(default_factory=dict)
    params_path: Path = Path("params.yaml")

    def attempt(self, position: int, repeat: int, arm: str, attempt: int) -> LoadtestRun:
        """One run on a fresh server, its files written; the run as the index lists it."""
        path = run_folder(arm, repeat, attempt)
        out = self.out / path
        service = self.arms[arm]
        built, log = self.bentos.services[service], self.logs / f"{path}.log"
        if self.params.loadtest.target == "cluster":
            served = cluster_served_run(service, arm, built, self.params, self.name, self.settings, self.texts,
                                        self.params.loadtest.warmup_requests, log)
        else:
            served = served_run(service, built, Path(self.bentos.bentoml_home), log, self.params, self.settings,
                                self.texts, self.params.loadtest.warmup_requests,
                                self.params.loadtest.scrape_interval_s)
        summary = scenario_summary(served.records, served.usage, self.name, self.settings, self.params.loadgen)
        write_run(out, served.records, summary)
        write_density(out, served.records, arrival_spec(self.settings))
        write_result(out / "server_metrics.json", served.metrics_delta)
        served.batch_timeline.to_csv(out / "batch_timeline.csv", index=False)
        run = LoadtestRun(service=arm, repeat=repeat, order=position, path=path, valid=summary.audit.valid,
                          reasons=summary.audit.reasons, server_ready_s=served.ready_after_s, attempt=attempt,
                          cpu_stolen=served.usage.stolen)
        self.runs.append(run)
        self.records[path], self.summaries[path] = served.records, summary
        print(f"loadtest: {arm} run {repeat}{f' (rerun {attempt})' if attempt else ''}: "
              f"{one_line(self.name, summary)}", file=sys.stderr, flush=True)
        return run

    def block(self, repeat: int, arms: list[str]) -> None:
        """Every arm once, in the seeded order; a run failing the audit is rerun (up to loadtest.max_reruns)."""
        for arm in arms:
            for attempt in range(self.params.loadtest.max_reruns + 1):
                if self.attempt(len(self.runs), repeat, arm, attempt).valid:
                    break

    def so_far(self) -> ScenarioRuns:
        """The runs done so far, as the compare stage's reader takes them (no environment fingerprint)."""
        bare = LoadtestIndex(scenario=self.name, variants={}, standin=False, runs=self.runs, environment={})
        return ScenarioRuns(bare, self.records, self.summaries)

    def index(self) -> LoadtestIndex:
        return LoadtestIndex(scenario=self.name, variants={arm: self.bentos.services[service].variant
                                                           for arm, service in self.arms.items()},
                             standin=self.bentos.standin, runs=self.runs, environment=fingerprint(self.params_path),
                             offered=self.offered)


def require_measured(name: str, settings: ScenarioParams) -> None:
    """Refuse a schedule whose every request falls in the warm-up: sized by requests, a rate resolved from a
    high capacity can send them all within ``warmup_s``."""
    schedule = draw_schedule(arrival_spec(settings))
    if not (schedule >= settings.warmup_s).any():
        raise ServebenchError(f"loadgen.scenarios.{name}: all {len(schedule)} requests at {settings.rate} req/s are "
                              f"sent within the warm-up of {settings.warmup_s:g} s, none measured: raise requests "
                              "or lower warmup_s")


def sizing(scenario: Scenario) -> tuple[bool, str]:
    """Whether ``repeats: auto`` may stop, and what the blocks so far can detect: it may when both primary
    verdicts of baseline vs optimized detect auto's targets at ``auto.alpha`` over the report's family (2 per
    scenario), or when an arm is overloaded (no ratio is claimed). The compare settings are the defaults, so that
    changing ``compare`` reruns compare only, not the load tests."""
    auto = scenario.params.loadtest.auto
    arms = group_by_arm(scenario.so_far())
    result = compare_arms(arms, "baseline", "optimized", CompareParams(alpha=auto.alpha))
    if not result.comparable or result.primary is None:
        return False, "not comparable yet"
    if any(state.overloaded for state in (result.overload or {}).values()):
        return True, "an arm is overloaded"
    blocks = len(result.blocks)
    level = auto.alpha / (2 * len(scenario.params.loadtest.scenarios))
    targets = {"p50": auto.target_p50_change, "tail": 1 - 1 / auto.target_tail_ratio}
    mdes = {key: relative_mde(stat.block_sd, blocks, level) if stat.block_sd is not None else float("inf")
            for key, stat in result.primary.items()}
    met = all(mdes[key] <= target for key, target in targets.items())
    return met, ", ".join(f"{key} detects {mdes[key]:.0%} {'<=' if mdes[key] <= targets[key] else '>'} "
                          f"{targets[key]:.0%}" for key in targets)


def main() -> None:
    with cleanup_on_signals():  # a cluster run's objects are deleted in its finally block
        run_scenario()


def run_scenario() -> None:
    parser = stage_parser(__doc__, bentos=BENTOS_JSON, dataset=DATASET_DIR, capacity=CAPACITY_JSON,
                          logs=LOGS_DIR / "loadtest")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    if args.scenario not in params.loadgen.scenarios:
        raise ServebenchError(f"no scenario {args.scenario!r} under loadgen.scenarios in {args.params}")
    capacity = read_result(args.capacity, Capacity) if args.capacity.is_file() else None
    stated = params.loadgen.scenarios[args.scenario]
    settings = resolve(args.scenario, stated, capacity)
    offered = offered_load(stated, settings, capacity)
    print(f"loadtest: {args.scenario}: offered {describe(offered)}", file=sys.stderr, flush=True)
    if settings.mode != "open":
        raise ServebenchError(f"scenario {args.scenario!r} is closed-loop; the experiment compares open-loop runs")
    require_measured(args.scenario, settings)
    arms = scenario_arms(params, args.scenario)
    scenario = Scenario(args.scenario, params, settings, read_result(args.bentos, Bentos),
                        read_corpus(args.dataset / CORPUS_FILE), args.out, arms, offered,
                        args.logs / args.scenario, params_path=args.params)
    loadtest = params.loadtest
    order = run_order(list(arms), loadtest.most_repeats, loadtest.seed)
    run_seconds = (settings.duration_s or (settings.requests or 0) / offered.rate_per_s) + SERVER_START_ESTIMATE_S
    started, stopped = time.monotonic(), "the planned blocks ran"
    for repeat in range(loadtest.most_repeats + 1):
        if repeat >= loadtest.planned_repeats and loadtest.repeats == "auto":
            spent = (time.monotonic() - started) / 60
            met, found = sizing(scenario)
            if met or spent >= loadtest.auto.budget_minutes or repeat == loadtest.most_repeats:
                stopped = (found if met else f"budget spent ({spent:.1f} of {loadtest.auto.budget_minutes:g} "
                           f"min): {found}" if spent >= loadtest.auto.budget_minutes
                           else f"auto.max_repeats reached: {found}")
                break
        if repeat == loadtest.most_repeats:
            break
        eta = (loadtest.planned_repeats - repeat) * len(arms) * run_seconds
        print(f"loadtest: {args.scenario}: block {repeat + 1}/{loadtest.planned_repeats}"
              f"{' (auto)' if repeat >= loadtest.planned_repeats else ''}, runs so far {len(scenario.runs)}, "
              f"ETA {max(eta, 0) / 60:.1f} min", file=sys.stderr, flush=True)
        scenario.block(repeat, [arm for block, arm in order if block == repeat])
    write_result(args.out / RUNS_INDEX, scenario.index())
    invalid = sum(not run.valid for run in scenario.runs)
    blocks = len({run.repeat for run in scenario.runs})
    print(f"loadtest: {args.scenario}: {blocks} blocks ({stopped}), {len(scenario.runs)} runs in "
          f"{(time.monotonic() - started) / 60:.1f} min, {invalid} failed the audit and were rerun -> {args.out}")


if __name__ == "__main__":
    run_stage("loadtest", main)
