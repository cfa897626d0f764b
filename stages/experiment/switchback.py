"""One switchback block: a fresh warm server per arm, the scenario's schedule alternated between them in slots.

The servers of a block start together and are warmed up, then the schedule's segments go to every arm in turn
(:mod:`stages.loadgen.switchback`), the probe read over every slot; then the servers stop. Fresh servers per
block are the outer level of the experiment: server-instance variance is still sampled (the A/A arm is a second
instance of one Bento). Each arm's records, summary and audit are written to ``<arm>/run-<block>`` exactly as a
fresh-server run's, so the comparison and the report read both protocols alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil

from stages.common.artifacts import CLASSIFY
from stages.common.cpu_steal import read_ticks, stolen_share
from stages.common.machine import Watch
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import GeneratorUsage
from stages.loadgen.payloads import arrival_spec, request_bodies
from stages.loadgen.run import client_config, warm_up
from stages.loadgen.switchback import SentSlot, run_switchback, slot_plan
from stages.params.loadgen import ScenarioParams
from stages.records.bentos import BuiltService
from stages.records.load import ProcessCost
from stages.records.loadtest import Slot
from stages.records.machine import MachineState
from stages.serving.metrics import Scraper, delta, scrape
from stages.serving.process_usage import TreeReading, process_cost, read_tree
from stages.serving.runs import RunSettings
from stages.serving.server import BentoServer


@dataclass(frozen=True)
class BlockArm:
    """One arm of a block: the Bento it serves and its server's log."""

    service: str
    built: BuiltService
    log: Path


@dataclass(frozen=True)
class ArmResult:
    records: pd.DataFrame
    metrics_delta: dict[str, float]
    batch_timeline: pd.DataFrame
    ready_after_s: float | None
    machine: MachineState
    cost: ProcessCost


@dataclass(frozen=True)
class BlockResult:
    arms: dict[str, ArmResult]
    usage: GeneratorUsage
    slots: list[Slot]


def _slot_record(repeat: int, sent: SentSlot, state: MachineState, cpu_s: tuple[float, float, float],
                 rss_bytes: int) -> Slot:
    planned = sent.planned
    return Slot(repeat=repeat, pair=planned.pair, arm=planned.arm, order=planned.order, start_s=planned.start_s,
                end_s=planned.end_s, requests=len(planned.rows), drain_s=sent.drain_s, max_lag_ms=sent.max_lag_ms,
                started_unix=sent.wall_start, ended_unix=sent.wall_end, machine=state,
                cpu_ms=[1e3 * seconds for seconds in cpu_s], rss_mb=rss_bytes / 2**20)


def arm_cost(slots: list[Slot], end: TreeReading, usage: GeneratorUsage, block_requests: int) -> ProcessCost:
    """An arm's CPU per request over its own slots (the CPU its idle server spent in the other arms' slots is
    not its requests'), its memory over them, and the block's generator CPU per request."""
    def seconds(part: int) -> float:
        return sum((slot.cpu_ms or [0.0, 0.0, 0.0])[part] for slot in slots) / 1e3

    requests = sum(slot.requests for slot in slots)
    generator_s = (usage.cpu * usage.wall_s * requests / block_requests
                   if usage.wall_s is not None and block_requests else None)
    return process_cost((seconds(0), seconds(1), seconds(2)), requests,
                        [int((slot.rss_mb or 0.0) * 2**20) for slot in slots], end.pss_bytes, generator_s)


def pooled_state(slots: list[Slot]) -> MachineState:
    """The probe over several slots: stolen shares weighted by readings, wake-up delays' worst p99."""
    read = [slot.machine for slot in slots if slot.machine.readings]
    readings = sum(state.readings for state in read)
    if not readings:
        return MachineState(readings=0)

    def weighted(values: list[tuple[float | None, int]]) -> float | None:
        known = [(value, weight) for value, weight in values if value is not None]
        total = sum(weight for _, weight in known)
        return sum(value * weight for value, weight in known) / total if total else None

    return MachineState(readings=readings,
                        probe_stolen=weighted([(state.probe_stolen, state.readings) for state in read]),
                        wake_p50_ms=weighted([(state.wake_p50_ms, state.readings) for state in read]),
                        wake_p99_ms=max(state.wake_p99_ms or 0.0 for state in read),
                        machine_stolen=weighted([(state.machine_stolen, state.readings) for state in read]))


def switchback_block(arms: dict[str, BlockArm], params: RunSettings, scenario: ScenarioParams, texts: list[str],
                     home: Path, repeat: int, watch: Watch) -> BlockResult:
    """Start every arm's server, warm each up, send the block's slots, read the probe per slot, stop them."""
    schedule = draw_schedule(arrival_spec(scenario))
    bodies = request_bodies(texts, len(schedule), scenario.texts_per_request, scenario.seed)
    switch = params.loadtest.switchback
    plan = slot_plan(schedule, switch.slot_s, list(arms), params.loadtest.seed * 1009 + repeat)
    slots: list[Slot] = []
    ticks = [read_ticks()]
    trees: dict[str, TreeReading] = {}
    workers: dict[str, list[psutil.Process]] = {}

    def read_trees() -> dict[str, TreeReading]:
        return {arm: read_tree(server.pid, workers[arm]) for arm, server in servers.items()}

    def on_slot(sent: SentSlot) -> None:
        ticks.append(read_ticks())
        state = watch.probe.window(sent.wall_start, sent.wall_end, stolen_share(ticks[-2], ticks[-1]))
        now = read_trees()  # every arm's: the slot's own arm's CPU since the last slot ended is this slot's
        arm = sent.planned.arm
        slots.append(_slot_record(repeat, sent, state, now[arm].minus(trees[arm]), now[arm].rss_bytes))
        trees.update(now)

    with contextlib.ExitStack() as stack:
        servers = {arm: BentoServer(spec.built.bento, home, spec.log, host=params.serve.host,
                                    cpu_affinity=getattr(params.serve, spec.service).cpu_affinity,
                                    ready_timeout_s=params.serve.ready_timeout_s) for arm, spec in arms.items()}
        for server in servers.values():  # every model loads at once: the block waits for the slowest only
            stack.callback(server.stop)
            server.start()
        for server in servers.values():
            server.wait_ready()
        for server in servers.values():
            warm_up(f"{server.url}{CLASSIFY}", texts, params.loadtest.warmup_requests, scenario.timeout_s)
        before = {arm: scrape(server.url) for arm, server in servers.items()}
        workers.update({arm: server.workers() for arm, server in servers.items()})
        trees.update(read_trees())
        scrapers = {arm: stack.enter_context(Scraper(server.url, params.loadtest.scrape_interval_s))
                    for arm, server in servers.items()}
        ticks[0] = read_ticks()
        records, usage = run_switchback({arm: f"{server.url}{CLASSIFY}" for arm, server in servers.items()},
                                        schedule, bodies, client_config(scenario, params.loadgen.client),
                                        scenario.warmup_s, plan, on_slot)
        after = {arm: scrape(server.url) for arm, server in servers.items()}
        ends = {arm: read_tree(server.pid, workers[arm], with_pss=True) for arm, server in servers.items()}
    requests = sum(slot.requests for slot in slots)
    results = {arm: ArmResult(records[arm], delta(before[arm], after[arm]), scrapers[arm].timeline(),
                              server.ready_after_s, pooled_state([slot for slot in slots if slot.arm == arm]),
                              arm_cost([slot for slot in slots if slot.arm == arm], ends[arm], usage, requests))
               for arm, server in servers.items()}
    return BlockResult(results, usage, slots)
