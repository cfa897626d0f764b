"""One open-loop run with a fault injected at a set time: the part local and cluster modes share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stages.common.errors import present
from stages.faults.local import FaultLog
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import GeneratorUsage
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import Shard, send_scenario
from stages.params.loadgen import ScenarioParams

START_DELAY_S = 1.0  # between arming the fault timer and the first scheduled request
AFTER_SEND_S = 0.001  # the fault lands this long after a send, while that request is surely in flight


def fault_time(schedule: np.ndarray, fault_at_s: float) -> float:
    """The first scheduled send at or after ``fault_at_s``, plus ``AFTER_SEND_S``.

    A fixed instant can fall into a gap of the seeded schedule with nothing in flight (it did, in every run of
    one offline repro), and then the fate of in-flight requests, which a fault decides, is never measured.
    """
    later = schedule[schedule >= fault_at_s]
    return float(later[0] if len(later) else fault_at_s) + AFTER_SEND_S


def busy_instants(schedule: np.ndarray, window_s: list[float], count: int, seed: int) -> list[float]:
    """``count`` distinct sends of ``schedule`` within ``window_s``, drawn with a seeded generator, favouring busy
    ones: an instant's weight is the number of sends in the second before it (a fault that lands in a lull tests
    little). Fewer candidates than ``count``: all of them, then repeats."""
    candidates = schedule[(schedule >= window_s[0]) & (schedule <= window_s[1])]
    if not len(candidates):
        raise ValueError(f"no scheduled send within the fault window {window_s} s")
    weights = (np.searchsorted(schedule, candidates, side="right")
               - np.searchsorted(schedule, candidates - 1.0, side="left")).astype(float)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False, p=weights / weights.sum())
    return [float(candidates[index]) for index in np.resize(chosen, count)]


@dataclass(frozen=True)
class FaultedRun:
    records: pd.DataFrame
    usage: GeneratorUsage
    log: FaultLog
    fault_s: float  # when the fault began, on the schedule's clock
    fault_end_s: float


def faulted_run(url: str, scenario: ScenarioParams, texts: list[str], fault_at_s: float,
                inject: Callable[[FaultLog], None], client: str = "aiohttp",
                schedule: np.ndarray | None = None) -> FaultedRun:
    """Send ``scenario`` to ``url`` open loop through ``client``; just after the first send from ``fault_at_s``
    into the schedule on, call ``inject`` in a thread. ``schedule``: the scenario's, when already drawn."""
    start_at = time.time() + START_DELAY_S
    schedule = draw_schedule(arrival_spec(scenario)) if schedule is None else schedule
    fault_s = fault_time(schedule, fault_at_s)
    log = FaultLog()
    errors: list[BaseException] = []

    def fire() -> None:
        try:
            inject(log)
        except BaseException as exc:  # reported after the run: the load must finish and be accounted
            errors.append(exc)

    timer = threading.Timer(start_at + fault_s - time.time(), fire)
    timer.start()
    try:
        records, usage = send_scenario(url, scenario, texts, client, Shard(0, 1, start_at), schedule=schedule)
    except BaseException:  # SIGTERM (as SystemExit), Ctrl-C, an error: the fault is lifted before anything else
        timer.cancel()
        log.aborted.set()
        timer.join()
        raise
    timer.join()
    if errors:
        raise errors[0]
    started, ended = present(log.started, "the fault's start"), present(log.ended, "the fault's end")
    return FaultedRun(records, usage, log, started - start_at, ended - start_at)
