"""One scenario's paired load test: blocks of fresh-server runs of every arm in a seeded order, each audited
and rerun when the generator failed its audit, until the blocks so far can detect the targets of ``repeats: auto``.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import model_validator

from stages.cluster.run import run_on_target
from stages.common.artifacts import RUNS_INDEX, aa_arm
from stages.common.environment import fingerprint
from stages.common.errors import ServebenchError, present
from stages.common.io import write_result
from stages.common.machine import Watch, probe_note, watched_machine
from stages.experiment.budget import BlockShape, expected_minutes, fitted_requests
from stages.experiment.switchback import BlockArm, switchback_block
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.density import write_density
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.relative import describe, offered_load, resolve
from stages.loadgen.run import one_line, scenario_summary, write_run
from stages.params.compare import CompareParams
from stages.params.loadgen import ScenarioParams
from stages.params.loadtest import check_loadtest
from stages.params.machine import MachineParams
from stages.records.bentos import Bentos
from stages.records.capacity import Capacity
from stages.records.load import LoadSummary, OfferedLoad, ProcessCost, ServerMetrics
from stages.records.loadtest import LoadtestIndex, LoadtestRun, Slot
from stages.records.machine import MachineState
from stages.serving.runs import RunSettings, RunSpec, ServedRun
from stages.stats.carryover import carryover
from stages.stats.design import AnalysisSettings, design_of
from stages.stats.samples import ScenarioRuns, group_by_arm
from stages.stats.sequential import decided, look

logger = logging.getLogger(__name__)

class LoadtestSettings(RunSettings, AnalysisSettings):
    """The sections a load test reads: the runs', the design's (its stopping rule) and the machine's."""

    machine: MachineParams = MachineParams()

    @model_validator(mode="after")
    def _scenarios_named(self) -> LoadtestSettings:
        check_loadtest(self.loadtest, self.loadgen)
        return self


def run_order(arms: list[str], repeats: int, seed: int) -> list[tuple[int, str]]:
    """(repeat, arm) in run order: every repeat holds each arm once, in a seeded shuffled order."""
    rng = random.Random(seed)
    order = []
    for repeat in range(repeats):
        block = list(arms)
        rng.shuffle(block)
        order += [(repeat, arm) for arm in block]
    return order


def scenario_arms(params: LoadtestSettings, scenario: str) -> dict[str, str]:
    """Arm name -> the service (Bento) it serves: every service, plus the A/A arm in the A/A scenario."""
    arms: dict[str, str] = {service: service for service in params.loadtest.services}
    aa = params.loadtest.aa
    if aa.service is not None and params.loadtest.aa_scenario == scenario:
        arms[aa_arm(aa.service)] = aa.service
    return arms


def cost_note(cost: ProcessCost | None) -> str:
    """", server CPU 12.3 ms/request, RSS 512 MB" for a run's line, or nothing where it was not measured."""
    if cost is None or cost.cpu_ms_per_request is None:
        return ""
    return f", server CPU {cost.cpu_ms_per_request:.2f} ms/request, RSS {cost.peak_rss_mb or 0:.0f} MB"


def uses_switchback(params: LoadtestSettings, scenario: str) -> bool:
    """Slots on warm servers (loadtest.switchback), unless off or this scenario runs fresh per run."""
    switch = params.loadtest.switchback
    return switch.enabled and scenario not in switch.fresh_per_run and params.loadtest.target == "local"


def fit_budget(name: str, params: LoadtestSettings, settings: ScenarioParams, rate: float) -> ScenarioParams:
    """The scenario with its runs cut to ``auto.budget_minutes`` where its stated requests overrun it."""
    shape = BlockShape(len(scenario_arms(params, name)), fresh_per_run=not uses_switchback(params, name))
    requests = fitted_requests(settings, rate, params.loadtest, shape)
    if requests == settings.requests:
        return settings
    fitted = settings.model_copy(update={"requests": requests})
    blocks = params.loadtest.planned_repeats
    logger.info(f"loadtest: {name}: {blocks} blocks of {settings.requests} requests per run at {rate:.3g} req/s "
                f"would take {expected_minutes(settings, rate, blocks, shape):.0f} min, over the budget of "
                f"{params.loadtest.auto.budget_minutes:g}: runs cut to {requests} requests "
                f"({expected_minutes(fitted, rate, blocks, shape):.0f} min)")
    return fitted


def run_folder(arm: str, repeat: int, attempt: int) -> str:
    """A run's folder under the scenario's: ``<arm>/run-<k>``, reruns ``<arm>/run-<k>-rerun-<a>``."""
    return f"{arm}/run-{repeat}" + (f"-rerun-{attempt}" if attempt else "")


@dataclass
class Scenario:
    """One scenario's load test as it proceeds: its settings and every run done so far, with records."""

    name: str
    params: LoadtestSettings
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
    watch: Watch | None = None
    slots: list[Slot] = field(default_factory=list)

    @property
    def switchback(self) -> bool:
        return uses_switchback(self.params, self.name)

    def record(self, arm: str, repeat: int, attempt: int, served: ServedRun, machine: MachineState | None
               ) -> LoadtestRun:
        """Write one arm's run (records, summary with its audit, density, server metrics) and list it."""
        path = run_folder(arm, repeat, attempt)
        out = self.out / path
        summary = scenario_summary(served.records, served.usage, self.name, self.settings, self.params.loadgen)
        write_run(out, served.records, summary)
        write_density(out, served.records, arrival_spec(self.settings))
        write_result(out / "server_metrics.json", ServerMetrics(deltas=served.metrics_delta))
        served.batch_timeline.to_csv(out / "batch_timeline.csv", index=False)
        run = LoadtestRun(service=arm, repeat=repeat, order=len(self.runs), path=path, valid=summary.audit.valid,
                          reasons=summary.audit.reasons, server_ready_s=served.ready_after_s, attempt=attempt,
                          cpu_stolen=served.usage.stolen, machine=machine, carryover=carryover(served.records),
                          cost=served.cost)
        self.runs.append(run)
        self.records[path], self.summaries[path] = served.records, summary
        logger.info(f"loadtest: {arm} run {repeat}{f' (rerun {attempt})' if attempt else ''}: "
                    f"{one_line(self.name, summary)}{probe_note(machine)}{cost_note(served.cost)}")
        return run

    def attempt(self, repeat: int, arm: str, attempt: int) -> LoadtestRun:
        """One run on a fresh server, its files written; the run as the index lists it."""
        service = self.arms[arm]
        built, log = self.bentos.services[service], self.logs / f"{run_folder(arm, repeat, attempt)}.log"
        spec = RunSpec(service, built, self.params, self.name, self.settings, self.texts,
                       self.params.loadtest.warmup_requests, log)
        with present(self.watch, "the machine watch").span() as span:
            served = run_on_target(spec, arm, Path(self.bentos.bentoml_home), self.params.loadtest.scrape_interval_s)
        return self.record(arm, repeat, attempt, served, span.state)

    def switchback_attempt(self, repeat: int, attempt: int) -> list[LoadtestRun]:
        """Every arm on a fresh warm server, the schedule alternated between them in slots (one block)."""
        arms = {arm: BlockArm(service, self.bentos.services[service],
                              self.logs / f"{run_folder(arm, repeat, attempt)}.log")
                for arm, service in self.arms.items()}
        block = switchback_block(arms, self.params, self.settings, self.texts, Path(self.bentos.bentoml_home),
                                 repeat, present(self.watch, "the machine watch"))
        self.slots += block.slots
        drains = [slot.drain_s for slot in block.slots]
        logger.info(f"loadtest: {self.name}: block {repeat}: {len(block.slots)} slots, drain p50 "
                    f"{1e3 * sorted(drains)[len(drains) // 2]:.0f} ms, max {1e3 * max(drains):.0f} ms")
        return [self.record(arm, repeat, attempt,
                            ServedRun(result.records, block.usage, result.metrics_delta, result.batch_timeline,
                                      result.ready_after_s, cost=result.cost), result.machine)
                for arm, result in block.arms.items()]

    def block(self, repeat: int, arms: list[str]) -> None:
        """Every arm once, in the seeded order (or in alternating slots); a run failing the audit is rerun (up to
        loadtest.max_reruns): in a switchback block, the whole block, so that its arms still share a machine."""
        if self.switchback:
            for attempt in range(self.params.loadtest.max_reruns + 1):
                if all(run.valid for run in self.switchback_attempt(repeat, attempt)):
                    break
            return
        for arm in arms:
            for attempt in range(self.params.loadtest.max_reruns + 1):
                if self.attempt(repeat, arm, attempt).valid:
                    break

    def so_far(self) -> ScenarioRuns:
        """The runs done so far, as the compare stage's reader takes them (no environment fingerprint)."""
        bare = LoadtestIndex(scenario=self.name, variants={}, standin=False, runs=self.runs, environment={})
        return ScenarioRuns(bare, self.records, self.summaries)

    def index(self) -> LoadtestIndex:
        return LoadtestIndex(scenario=self.name, variants={arm: self.bentos.services[service].variant
                                                           for arm, service in self.arms.items()},
                             standin=self.bentos.standin, runs=self.runs, environment=fingerprint(self.params_path),
                             offered=self.offered, protocol="switchback" if self.switchback else "fresh-per-run",
                             slot_s=self.params.loadtest.switchback.slot_s if self.switchback else None,
                             slots=self.slots, neighbour=self.watch.neighbour if self.watch else None)


def require_measured(name: str, settings: ScenarioParams) -> None:
    """Refuse a schedule whose every request falls in the warm-up: sized by requests, a rate resolved from a
    high capacity can send them all within ``warmup_s``."""
    schedule = draw_schedule(arrival_spec(settings))
    if not (schedule >= settings.warmup_s).any():
        raise ServebenchError(f"loadgen.scenarios.{name}: all {len(schedule)} requests at {settings.rate} req/s are "
                              f"sent within the warm-up of {settings.warmup_s:g} s, none measured: raise requests "
                              "or lower warmup_s")


def sizing(scenario: Scenario) -> tuple[bool, str]:
    """Whether ``repeats: auto`` may stop at this look (:mod:`stages.stats.sequential`): every primary verdict
    of baseline vs optimized decided at the look's share of ``auto.alpha``, or an arm overloaded. The compare
    settings are the defaults, so that changing ``compare`` reruns compare only, not the load tests."""
    alpha = scenario.params.loadtest.auto.alpha
    design = design_of(scenario.params, alpha=alpha)
    return decided(look(group_by_arm(scenario.so_far()), CompareParams(alpha=alpha, min_units=design.min_units),
                        design))


def load_test(name: str, params: LoadtestSettings, bentos: Bentos, texts: list[str], capacity: Capacity | None,
              folders: tuple[Path, Path], params_path: Path) -> tuple[Scenario, str]:
    """One scenario's whole load test, the machine watched (and disturbed, when the neighbour is on) throughout:
    the rate resolved against ``capacity``, the blocks run, ``runs.json`` written under ``folders[0]`` (server
    logs under ``folders[1]``); the scenario with its runs, and why its blocks stopped."""
    stated = params.loadgen.scenarios[name]
    resolved = resolve(name, stated, capacity)
    settings = fit_budget(name, params, resolved, offered_load(stated, resolved, capacity).rate_per_s)
    offered = offered_load(stated, settings, capacity)
    logger.info(f"loadtest: {name}: offered {describe(offered)}")
    if settings.mode != "open":
        raise ServebenchError(f"scenario {name!r} is closed-loop; the experiment compares open-loop runs")
    require_measured(name, settings)
    out, logs = folders
    with watched_machine(params.machine) as watch:
        scenario = Scenario(name, params, settings, bentos, texts, out, scenario_arms(params, name), offered, logs,
                            params_path=params_path, watch=watch)
        stopped = run_blocks(scenario)
    write_result(out / RUNS_INDEX, scenario.index())
    return scenario, stopped


def run_blocks(scenario: Scenario) -> str:
    """The scenario's blocks, each arm once per block in the seeded order, until the planned blocks ran or (with
    ``repeats: auto``) what they can detect meets the targets or the budget is spent; says why it stopped."""
    loadtest, settings = scenario.params.loadtest, scenario.settings
    arms = list(scenario.arms)
    order = run_order(arms, loadtest.most_repeats, loadtest.seed)
    shape = BlockShape(len(arms), fresh_per_run=not scenario.switchback)
    started, stopped = time.monotonic(), "the planned blocks ran"
    for repeat in range(loadtest.most_repeats + 1):
        if repeat >= loadtest.planned_repeats and loadtest.repeats == "auto":
            spent = (time.monotonic() - started) / 60
            met, found = sizing(scenario)
            if met or spent >= loadtest.auto.budget_minutes or repeat == loadtest.most_repeats:
                stopped = (f"decided: {found}" if met
                           else f"budget spent ({spent:.1f} of {loadtest.auto.budget_minutes:g} min): {found}"
                           if spent >= loadtest.auto.budget_minutes
                           else f"auto.max_repeats reached: {found}")
                break
        if repeat == loadtest.most_repeats:
            break
        eta = expected_minutes(settings, scenario.offered.rate_per_s, max(loadtest.planned_repeats - repeat, 0), shape)
        logger.info(f"loadtest: {scenario.name}: block {repeat + 1}/{loadtest.planned_repeats}"
                    f"{' (auto)' if repeat >= loadtest.planned_repeats else ''}, runs so far {len(scenario.runs)}, "
                    f"ETA {eta:.1f} min")
        scenario.block(repeat, [arm for block, arm in order if block == repeat])
    return stopped
