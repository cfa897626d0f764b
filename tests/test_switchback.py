"""Switchback: the schedule cut into slots sent to every arm in turn, real aiohttp traffic to real servers on
loopback; the machine probe and the noisy neighbour as real processes."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import psutil
import pytest

from stages.common.artifacts import SLOT_COLUMN
from stages.common.neighbour import NoisyNeighbour, busy_share, phases
from stages.common.net import free_port
from stages.common.probe import MachineProbe, ProbeSettings, correlation_time
from stages.experiment.noise_check import ConditionResult, judge, slot_correlation
from stages.experiment.switchback import pooled_state
from stages.loadgen.arrivals import ArrivalSpec, draw_schedule
from stages.loadgen.client import ClientConfig, GeneratorUsage
from stages.loadgen.nullserver import start_null_server
from stages.loadgen.summary import summarize
from stages.loadgen.switchback import SentSlot, run_switchback, slot_plan
from stages.params.base import ParamsError, parse_params
from stages.params.file import Params
from stages.params.loadgen import LoadgenParams
from stages.params.machine import NeighbourParams
from stages.records.loadtest import LoadtestIndex, Slot
from stages.records.machine import MachineState
from stages.reporting.sections import probe_line
from stages.stats.carryover import carryover


@pytest.fixture(scope="module")
def second_server() -> Iterator[str]:
    """A second null server: the other arm."""
    port = free_port()
    process = start_null_server(port, fast=False)
    yield f"http://127.0.0.1:{port}"
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=10)


def test_every_segment_goes_to_every_arm_once_in_a_seeded_order_that_varies() -> None:
    schedule = np.sort(np.random.default_rng(0).uniform(0, 30, 90))
    plan = slot_plan(schedule, 2.0, ["a", "b", "c"], seed=4)
    pairs = {slot.pair for slot in plan}
    assert len(plan) == 3 * len(pairs)
    for pair in pairs:
        slots = [slot for slot in plan if slot.pair == pair]
        assert sorted(slot.arm for slot in slots) == ["a", "b", "c"] and [s.order for s in slots] == [0, 1, 2]
        assert all(np.array_equal(slots[0].rows, slot.rows) for slot in slots)  # the same segment for each arm
        assert all(slot.start_s <= schedule[row] < slot.end_s for slot in slots for row in slot.rows)
    # every request is sent once per arm
    assert sorted(np.concatenate([slot.rows for slot in plan if slot.arm == "a"])) == list(range(90))
    orders = {tuple(slot.arm for slot in plan if slot.pair == pair) for pair in pairs}
    assert len(orders) > 1
    assert [s.arm for s in slot_plan(schedule, 2.0, ["a", "b", "c"], seed=4)] == [s.arm for s in plan]
    assert [s.arm for s in slot_plan(schedule, 2.0, ["a", "b", "c"], seed=5)] != [s.arm for s in plan]


def test_switchback_sends_each_arm_the_whole_schedule_slot_by_slot_and_accounts_for_every_request(
        null_server: str, second_server: str) -> None:
    spec = ArrivalSpec("exponential", 20.0, requests=60, seed=3)
    schedule = draw_schedule(spec)
    plan = slot_plan(schedule, 0.5, ["fast", "slow"], seed=0)
    sent: list[SentSlot] = []
    urls = {"fast": f"{null_server}/classify", "slow": f"{second_server}/slow?ms=30"}
    frames, usage = run_switchback(urls, schedule, [b'{"texts": ["x"]}'] * len(schedule),
                                   ClientConfig(timeout_s=10.0), 0.2, plan, sent.append)
    assert [slot.planned for slot in sent] == plan
    for previous, current in itertools.pairwise(sent):
        assert current.wall_start >= previous.wall_end  # a slot starts after the previous one drained
    assert all(slot.drain_s >= 0 and slot.max_lag_ms is not None and 0 <= slot.max_lag_ms < 200 for slot in sent)
    for arm, frame in frames.items():
        assert len(frame) == len(schedule) and (frame["outcome"] == "ok").all(), arm
        assert np.array_equal(frame["scheduled_s"], schedule)
        assert (frame[SLOT_COLUMN].to_numpy() == np.floor(schedule / 0.5).astype(int)).any()
        # on the arm's own clock the sends keep the schedule: the other arm's slots are cut out
        assert np.nanmax(np.abs(frame["lag_ms"])) < 200
        summary = summarize(frame, spec, LoadgenParams(lag_bound_ms=50.0, lag_max_bound_ms=500.0), usage)
        assert sum(summary.outcomes.values()) == summary.requests.measured == int((schedule >= 0.2).sum())
    # the slow arm's 30 ms shows in its latency, not in the fast arm's
    assert frames["slow"]["service_ms"].median() > frames["fast"]["service_ms"].median() + 20
    assert isinstance(usage, GeneratorUsage)


def test_the_probe_reads_its_own_answers_per_window() -> None:
    with MachineProbe(ProbeSettings(gap_s=0.02, work_s=0.001)) as probe:
        start = time.time()
        time.sleep(1.5)
        state = probe.window(start, time.time(), machine_stolen=0.1)
        empty = probe.window(0.0, 1.0)
    assert state.readings >= 10 and state.machine_stolen == 0.1
    assert state.probe_stolen is not None and 0.0 <= state.probe_stolen <= 1.0
    assert state.wake_p50_ms is not None and 0 <= state.wake_p50_ms <= (state.wake_p99_ms or 0)
    assert empty.readings == 0 and empty.probe_stolen is None
    assert not probe.log.exists()  # its files go with it


def test_slot_states_pool_by_readings() -> None:
    def slot(readings: int, stolen: float, wake: float) -> Slot:
        return Slot(repeat=0, pair=0, arm="a", order=0, start_s=0, end_s=1, requests=1, drain_s=0,
                    machine=MachineState(readings=readings, probe_stolen=stolen, wake_p50_ms=wake, wake_p99_ms=wake))
    pooled = pooled_state([slot(30, 0.1, 1.0), slot(10, 0.5, 3.0), slot(0, 0.9, 9.0)])
    assert pooled.readings == 40 and pooled.probe_stolen == pytest.approx(0.2) and pooled.wake_p99_ms == 3.0
    assert pooled_state([]).readings == 0


def test_the_neighbours_phases_are_seeded_and_busy_about_duty_of_the_time() -> None:
    settings = NeighbourParams(enabled=True, duty=0.4, phase_s=[10.0, 60.0], seed=7)
    first = [phase for _, phase in zip(range(50), phases(settings), strict=False)]
    assert first == [phase for _, phase in zip(range(50), phases(settings), strict=False)]
    assert all(10.0 <= phase.end_s - phase.start_s <= 60.0 for phase in first)
    assert first != [phase for _, phase in zip(range(50), phases(settings.model_copy(update={"seed": 8})),
                                                strict=False)]
    assert 0.3 <= busy_share(settings, horizon_s=200_000.0) <= 0.5
    assert busy_share(settings.model_copy(update={"duty": 1.0})) == 1.0


def test_the_neighbour_burns_cpu_in_busy_phases_and_stops_with_its_block() -> None:
    settings = NeighbourParams(enabled=True, hogs=2, duty=1.0, phase_s=[5.0, 5.0], seed=0)
    with NoisyNeighbour(settings) as neighbour:
        hogs = [psutil.Process(hog.pid) for hog in neighbour._hogs]
        time.sleep(1.5)
        cpu = [hog.cpu_times().user for hog in hogs]
        assert neighbour.alive == 2
    assert min(cpu) > 0.2  # each spun (on a busy machine, for part of the time at least)
    assert neighbour.alive == 0
    assert neighbour.record().busy_share == 1.0


def test_switchback_and_neighbour_params_say_what_is_wrong() -> None:
    scenarios = {"loadgen": {"scenarios": {"a": {"rate": 2.0, "duration_s": 5}}}}
    with pytest.raises(ParamsError, match=r"fresh_per_run names \['nope'\]"):
        parse_params(Params, {**scenarios, "loadtest": {"switchback": {"fresh_per_run": ["nope"]}}})
    with pytest.raises(ParamsError, match=r"phase_s = \[60.0, 10.0\]: expected \[shortest, longest\]"):
        parse_params(Params, {"machine": {"neighbour": {"phase_s": [60.0, 10.0]}}})
    with pytest.raises(ParamsError, match=r"machine\.probe\.gap_s"):
        parse_params(Params, {"machine": {"probe": {"gap_s": 0}}})


def test_carryover_tells_a_slot_whose_first_request_pays_for_the_slot_before() -> None:
    rng = np.random.default_rng(1)
    schedule = np.sort(rng.uniform(0, 60, 240))
    slot = np.floor(schedule / 3.0).astype(int)
    latency = rng.lognormal(np.log(20), 0.1, len(schedule))
    records = pd.DataFrame({"scheduled_s": schedule, "latency_ms": latency, "warmup": schedule < 1.0,
                            "outcome": "ok", SLOT_COLUMN: slot})
    clean = carryover(records)
    assert clean is not None and clean.slots == len(set(slot[schedule >= 1.0])) and clean.p_value > 0.001
    first = ~pd.Series(slot).duplicated().to_numpy()
    records["latency_ms"] = np.where(first, latency * 3, latency)  # the first request of each slot waits
    marked = carryover(records)
    assert marked is not None and marked.ratio > 2 and marked.p_value < 1e-6
    assert carryover(records.drop(columns=SLOT_COLUMN)) is None  # a fresh-server run has no slots


def test_the_noise_check_holds_only_when_the_verdict_survives_the_neighbour() -> None:
    def condition(ratio: float, interval: list[float], aa: str) -> ConditionResult:
        return ConditionResult(neighbour=None, blocks=4, p50_ratio=ratio, p50_ratio_ci=interval, p50_verdict="faster",
                               aa_ratio=1.0, aa_ratio_ci=[0.9, 1.1], aa_verdict=aa, block_ratios=[ratio] * 4,
                               aa_block_ratios=[1.0] * 4, slot_probe_stolen=[0.0], slot_wake_p99_ms=[1.0])
    quiet = condition(0.20, [0.18, 0.22], "inconclusive")
    held = judge("steady", {"quiet": quiet, "neighbour": condition(0.21, [0.18, 0.245], "equivalent")}, 0.1, 2.0)
    assert all(held.checks.values()) and held.ratio_change == pytest.approx(0.05)
    moved = judge("steady", {"quiet": quiet, "neighbour": condition(0.12, [0.105, 0.14], "equivalent")}, 0.1, 2.0)
    assert [name for name, ok in moved.checks.items() if not ok] == ["p50 ratio with the neighbour within 10% of quiet"]
    wide = judge("steady", {"quiet": quiet, "neighbour": condition(0.2, [0.1, 0.4], "slower")}, 0.1, 2.0)
    assert [ok for ok in wide.checks.values()] == [True, False, True, False]
    # CPU per request: within 5 % holds, a 7 % move fails, per arm
    costly = quiet.model_copy(update={"cpu_ms_per_request": {"baseline": 40.0, "optimized": 6.0}})
    steady = quiet.model_copy(update={"cpu_ms_per_request": {"baseline": 41.5, "optimized": 6.42}})
    cost = judge("steady", {"quiet": costly, "neighbour": steady}, 0.1, 2.0)
    assert cost.cpu_change == pytest.approx({"baseline": 0.0375, "optimized": 0.07})
    assert [name for name, ok in cost.checks.items() if not ok] == [
        "optimized CPU per request with the neighbour within 5% of quiet"]


def test_correlation_time_is_how_long_the_noise_remembers_itself() -> None:
    rng = np.random.default_rng(0)
    persistent = np.repeat(rng.normal(size=40), 10)  # a level held for 10 windows at a time
    tau = correlation_time(persistent, 2.0)
    assert tau is not None and 6.0 <= tau <= 20.0
    assert correlation_time(rng.normal(size=400), 2.0) == 2.0  # white noise: gone after one window
    assert correlation_time(np.zeros(50), 2.0) is None


def test_the_report_says_what_the_probe_saw_per_slot_and_names_the_neighbour() -> None:
    def slot(stolen: float, wake: float) -> Slot:
        return Slot(repeat=0, pair=0, arm="a", order=0, start_s=0, end_s=1, requests=1, drain_s=0,
                    machine=MachineState(readings=10, probe_stolen=stolen, wake_p50_ms=wake, wake_p99_ms=wake))
    neighbour = NeighbourParams(enabled=True)
    index = LoadtestIndex(scenario="steady", variants={}, standin=True, runs=[], environment={},
                          slots=[slot(0.0, 1.0), slot(0.1, 2.0), slot(0.3, 9.0)],
                          neighbour=NoisyNeighbour(neighbour).record())
    line = probe_line([index])
    assert "over 3 slots: 10% of its busy time stolen, median (0%-30%)" in line
    assert "wake-up delay p99 2.0 ms median (1.0-9.0 ms)" in line
    assert "2 CPU hogs busy together in 40% of random 10-60 s phases (seed 0)" in line
    assert probe_line([index.model_copy(update={"slots": [], "neighbour": None})]) == ""


def test_the_noise_checks_correlation_time_is_in_seconds_of_the_slots_wall_clock() -> None:
    levels = np.repeat([0.0, 0.3, 0.05, 0.4, 0.1, 0.2], 6)  # the machine's state held for 6 slots at a time
    slots = [Slot(repeat=0, pair=k, arm="a", order=0, start_s=0, end_s=5, requests=9, drain_s=0.02,
                  started_unix=1000.0 + 5.0 * k, ended_unix=1004.9 + 5.0 * k,
                  machine=MachineState(readings=50, probe_stolen=float(level), wake_p99_ms=1.0 + level))
             for k, level in enumerate(levels)]
    correlated = slot_correlation(slots)
    assert correlated["probe_stolen"] is not None and 10.0 <= correlated["probe_stolen"] <= 30.0
    assert slot_correlation(slots[:1]) == {}
