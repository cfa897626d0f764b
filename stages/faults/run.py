"""One open-loop run with a fault injected at a set time: the part local and cluster modes share."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stages.common.errors import present
from stages.faults.local import FaultLog
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import OUTCOME_CODE, GeneratorUsage, RunRecorder
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


_OK, _NOT_SENT = OUTCOME_CODE["ok"], OUTCOME_CODE["not_sent"]
MIN_JUDGED = 10  # requests in the window before the bound judges it: a few bad ones prove nothing


@dataclass
class OutageBound:
    """A halt condition for a fault run on a shared cluster (a :data:`stages.loadgen.client.StopRule`, like the
    halt conditions of Gremlin or the probes of Litmus): once ``grace_s`` has passed since the fault, stop
    sending when more than ``max_bad_share`` of the requests scheduled in the last ``window_s`` (whose fate is
    known: scheduled at least ``slo_ms`` ago) failed or took longer than ``slo_ms``. A service that has not come
    back by then is not held under load for the rest of the run; the experiment stops after it."""

    grace_s: float
    window_s: float
    slo_ms: float
    max_bad_share: float
    fault_s: float = math.inf  # set by :func:`faulted_run` once the fault's instant is known
    stopped_at_s: float | None = None
    bad_share: float | None = None

    def __call__(self, recorder: RunRecorder, now_s: float) -> bool:
        if now_s < self.fault_s + self.grace_s:
            return False
        known = now_s - self.slo_ms / 1e3
        judged = (recorder.scheduled >= known - self.window_s) & (recorder.scheduled < known) \
            & (recorder.outcome != _NOT_SENT)
        if judged.sum() < MIN_JUDGED:
            return False
        finished = np.where(np.isnan(recorder.done), now_s, recorder.done)
        bad = judged & ((recorder.outcome != _OK) | ((finished - recorder.scheduled) * 1e3 > self.slo_ms))
        share = float(bad.sum() / judged.sum())
        if share <= self.max_bad_share:
            return False
        self.stopped_at_s, self.bad_share = now_s, share
        return True


@dataclass(frozen=True)
class FaultedRun:
    records: pd.DataFrame
    usage: GeneratorUsage
    log: FaultLog
    fault_s: float  # when the fault began, on the schedule's clock
    fault_end_s: float


def faulted_run(url: str, scenario: ScenarioParams, texts: list[str], fault_at_s: float,
                inject: Callable[[FaultLog], None], client: str = "aiohttp",
                schedule: np.ndarray | None = None, bound: OutageBound | None = None) -> FaultedRun:
    """Send ``scenario`` to ``url`` open loop through ``client``; just after the first send from ``fault_at_s``
    into the schedule on, call ``inject`` in a thread. ``schedule``: the scenario's, when already drawn;
    ``bound``: a halt condition that may end the sending early (the rest keep the outcome ``not_sent``)."""
    start_at = time.time() + START_DELAY_S
    schedule = draw_schedule(arrival_spec(scenario)) if schedule is None else schedule
    fault_s = fault_time(schedule, fault_at_s)
    if bound is not None:
        bound.fault_s = fault_s
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
        records, usage = send_scenario(url, scenario, texts, client, Shard(0, 1, start_at), stop_when=bound,
                                       schedule=schedule)
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
