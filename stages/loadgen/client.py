"""Open-loop HTTP load generator (asyncio; aiohttp or the lean httptools transport) that accounts for every
request and does not lie.

Each request leaves at its scheduled offset whatever earlier requests are doing (absolute deadlines, no drift);
its latency is measured from the *scheduled* time, so a server stall shows up in every request that should have
been sent during it (no coordinated omission), and the send lag (actual - scheduled) is recorded. Every
scheduled request gets exactly one record with one outcome. A closed-loop mode (N users with think time, like
Locust) exists for comparison only.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import selectors
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from stages.common.cpu_steal import StealMeter
from stages.common.server_timing import METRICS, parse_timing
from stages.loadgen.pools import RequestPool, open_pool
from stages.loadgen.transport import CONNECTION_ERROR, HTTP_ERROR, OK, TIMEOUT, Answer, OnAnswer, OnSent

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A request's outcome: the pool's answers, or the generator's own (over the in-flight cap; never sent), or
# "lost": a cluster generator pod that held it died or never started, so its fate is unknown (stages/cluster).
OUTCOMES = (OK, HTTP_ERROR, TIMEOUT, CONNECTION_ERROR, "dropped_by_client_limit", "not_sent", "lost")
OUTCOME_CODE = {name: code for code, name in enumerate(OUTCOMES)}
DROPPED, NOT_SENT, LOST = (OUTCOME_CODE[name] for name in ("dropped_by_client_limit", "not_sent", "lost"))
START_LEAD_S = 0.2  # time to set up before the first deadline, so request 0 is not late by construction
# The event loop rounds sleeps up to whole milliseconds (epoll) and an idle core wakes slowly: sleep until this
# long before a deadline, then yield to the loop (which keeps serving responses) until the deadline passes.
SPIN_MARGIN_S = 0.002
STOP_CHECK_S = 0.1  # how often a stop rule is asked, at most (it scans every row)


@dataclass(frozen=True)
class ClientConfig:
    """How the client may use the network: in-flight cap (beyond it requests are dropped and recorded as such),
    pooled connections, the per-request timeout, and which HTTP client sends (:mod:`stages.loadgen.pools`)."""

    max_in_flight: int = 2000
    connections: int = 200
    timeout_s: float = 30.0
    client: str = "aiohttp"


class RunRecorder:
    """Column arrays for one run; a row per scheduled request, filled in as requests progress."""

    def __init__(self, scheduled: np.ndarray, indices: Sequence[int]) -> None:
        count = len(indices)
        self.index = np.asarray(indices, dtype=np.int64)
        self.scheduled = scheduled.astype(np.float64)
        self.sent = np.full(count, np.nan)
        self.done = np.full(count, np.nan)
        self.status = np.zeros(count, dtype=np.int16)
        self.outcome = np.full(count, NOT_SENT, dtype=np.int8)
        self.response_bytes = np.zeros(count, dtype=np.int64)
        self.error: dict[int, str] = {}
        # the answer's Server-Timing (ms; NaN without one): the service's own time, the batcher's wait, compute
        self.server = {name: np.full(count, np.nan) for name in (*METRICS, "batch")}

    def frame(self, warmup_s: float) -> pd.DataFrame:
        frame = pd.DataFrame({
            "index": self.index,
            "scheduled_s": self.scheduled,
            "sent_s": self.sent,
            "done_s": self.done,
            "status": self.status,
            "outcome": pd.Categorical.from_codes(self.outcome, categories=list(OUTCOMES)),  # type: ignore[call-overload]
            "latency_ms": (self.done - self.scheduled) * 1e3,
            "service_ms": (self.done - self.sent) * 1e3,
            "lag_ms": (self.sent - self.scheduled) * 1e3,
            "response_bytes": self.response_bytes,
            "warmup": self.scheduled < warmup_s,
            **{f"server_{name}{'' if name == 'batch' else '_ms'}": values for name, values in self.server.items()},
        })
        frame["error"] = [self.error.get(row, "") for row in range(len(frame))]
        return frame


# Asked while sending, with the run so far and the run clock's now: True ends the sending (the rows not yet sent
# keep the outcome "not_sent"; those in flight are still awaited). The capacity search stops a step whose failure
# is already certain (:mod:`stages.loadgen.decided`).
StopRule = Callable[[RunRecorder, float], bool]


@dataclass(frozen=True)
class SendOptions:
    """How one generator process sends its share of a schedule: shard ``(index, count)`` (every ``count``-th
    request from ``index``), a common start instant (a ``time.time()`` value) shared by several processes,
    progress lines every so many seconds (None: quiet), and a rule that may end the sending early."""

    shard: tuple[int, int] = (0, 1)
    start_at: float | None = None
    progress_every_s: float | None = 10.0
    stop_when: StopRule | None = None


@dataclass(frozen=True)
class Users:
    """A closed loop's users: how many, their mean think time, for how long (None: until the bodies run out),
    the warm-up share of the run not measured, and the think times' seed."""

    count: int
    think_time_s: float = 0.0
    duration_s: float | None = None
    warmup_s: float = 0.0
    seed: int = 0


RunClock = Callable[[], float]  # now, in seconds on the run's clock (the schedule's)


def stamping(recorder: RunRecorder, clock: RunClock) -> OnSent:
    """The pool's send callback: the moment the client takes the request, on the run's clock."""
    def stamp(row: int) -> None:
        recorder.sent[row] = clock()
    return stamp


def recording(recorder: RunRecorder, clock: RunClock) -> OnAnswer:
    """The pool's callback: stamp the answer's time and fate into the run's columns."""
    def record(row: int, answer: Answer) -> None:
        recorder.done[row] = clock()
        recorder.status[row] = answer.status
        recorder.response_bytes[row] = answer.response_bytes
        recorder.outcome[row] = OUTCOME_CODE[answer.outcome]
        if answer.error:
            recorder.error[row] = answer.error
        if answer.server_timing:
            for name, value in parse_timing(answer.server_timing).items():
                if name in recorder.server:
                    recorder.server[name][row] = value
    return record


async def _until(deadline: float, loop: asyncio.AbstractEventLoop) -> None:
    """Return as soon after ``deadline`` (loop time) as possible, without drifting and without hogging I/O."""
    delay = deadline - loop.time()
    if delay > SPIN_MARGIN_S:
        await asyncio.sleep(delay - SPIN_MARGIN_S)
    while loop.time() < deadline:
        await asyncio.sleep(0)


async def _report_progress(recorder: RunRecorder, origin: float, loop: asyncio.AbstractEventLoop,
                           every_s: float) -> None:
    """A periodic progress line on stderr: sent, achieved rate, answered, ETA by the schedule."""
    total, end = len(recorder.index), recorder.scheduled[-1] if len(recorder.scheduled) else 0.0
    while True:
        await asyncio.sleep(every_s)
        now = loop.time() - origin
        sent = int(np.count_nonzero(~np.isnan(recorder.sent)))
        answered = int(np.count_nonzero(~np.isnan(recorder.done)))
        logger.info(f"loadgen: {sent}/{total} sent ({sent / max(now, 1e-9):.1f}/s), {answered} answered, "
                    f"{sent - answered} in flight, ETA {max(end - now, 0):.0f} s")


async def send_due(pool: RequestPool, recorder: RunRecorder, rows: list[tuple[int, int]],
                   traffic: tuple[np.ndarray, Sequence[bytes]], origin: float, max_in_flight: int,
                   stop_when: StopRule | None = None) -> None:
    """Send each (recorder row, schedule index) at ``origin + schedule[index]`` (loop time), open loop: past the
    in-flight cap a request is dropped and recorded so; ``stop_when`` may end the sending early."""
    loop = asyncio.get_running_loop()
    schedule, bodies = traffic
    checked = loop.time()
    for row, index in rows:
        await _until(origin + schedule[index], loop)
        if stop_when is not None and loop.time() - checked >= STOP_CHECK_S:
            checked = loop.time()
            if stop_when(recorder, checked - origin):
                break
        if pool.pending >= max_in_flight:
            recorder.outcome[row] = DROPPED
            continue
        pool.submit(row, bodies[index])


async def open_loop(url: str, schedule: np.ndarray, bodies: Sequence[bytes], config: ClientConfig,
                    options: SendOptions = SendOptions()) -> RunRecorder:
    """Send request ``i`` at ``schedule[i]`` seconds after the start, for the indices of this shard."""
    shard, start_at, progress_every_s, stop_when = (options.shard, options.start_at, options.progress_every_s,
                                                    options.stop_when)
    loop = asyncio.get_running_loop()
    indices = range(shard[0], len(schedule), shard[1])
    recorder = RunRecorder(schedule[shard[0] :: shard[1]], indices)
    lead = START_LEAD_S if start_at is None else start_at - time.time()
    origin = loop.time() + lead
    clock = lambda: loop.time() - origin  # noqa: E731
    pool = open_pool(config.client, url, config.connections, config.timeout_s, recording(recorder, clock),
                     stamping(recorder, clock))
    reporter = (loop.create_task(_report_progress(recorder, origin, loop, progress_every_s))
                if progress_every_s else None)
    try:
        await send_due(pool, recorder, list(enumerate(indices)), (schedule, bodies), origin, config.max_in_flight,
                       stop_when)
        await pool.drained()
    finally:
        await pool.close()
        if reporter is not None:
            reporter.cancel()
    return recorder


async def closed_loop(url: str, bodies: Sequence[bytes], users: Users, config: ClientConfig) -> pd.DataFrame:
    """Locust-style: each user sends, waits for the answer, thinks (exponential, mean ``think_time_s``), repeats.

    Latency here is from the actual send: a closed loop has no schedule, which is exactly why it under-reports.
    """
    loop = asyncio.get_running_loop()
    recorder = RunRecorder(np.full(len(bodies), np.nan), range(len(bodies)))
    next_row = 0
    rng = np.random.default_rng(users.seed)
    origin = loop.time()
    end = origin + (users.duration_s if users.duration_s is not None else float("inf"))
    waiters: dict[int, asyncio.Future[None]] = {}
    record = recording(recorder, lambda: loop.time() - origin)

    def answer_and_wake(row: int, answer: Answer) -> None:
        record(row, answer)
        waiters.pop(row).set_result(None)

    pool = open_pool(config.client, url, config.connections, config.timeout_s, answer_and_wake,
                     stamping(recorder, lambda: loop.time() - origin))

    async def user() -> None:
        nonlocal next_row
        while next_row < len(bodies) and loop.time() < end:
            row, next_row = next_row, next_row + 1
            recorder.scheduled[row] = loop.time() - origin
            answered = waiters[row] = loop.create_future()
            pool.submit(row, bodies[row])
            await answered
            if users.think_time_s > 0:
                await asyncio.sleep(float(rng.exponential(users.think_time_s)))

    try:
        await asyncio.gather(*(user() for _ in range(users.count)))
    finally:
        await pool.close()
    return recorder.frame(users.warmup_s).iloc[:next_row]  # a closed loop has no schedule: only issued requests exist


@dataclass(frozen=True)
class GeneratorUsage:
    """What the generator process used, as fractions of one core over the run's wall time.

    ``cpu`` is process CPU time (user + system) over wall time. It includes the deadline spin (the last
    ``SPIN_MARGIN_S`` before each send is spent yielding to the loop), so above ~500 req/s, where gaps are shorter
    than the margin, it approaches one core by design: it is not an overload signal, send lag is.
    ``idle_wait`` is the share of wall time the event loop sat blocked in the selector with nothing to do.
    ``stolen`` is machine-wide: the share of the CPU time every process asked for during the run that a hypervisor
    gave to other guests (:mod:`stages.common.cpu_steal`); it slows the server as much as the generator.
    """

    cpu: float
    idle_wait: float | None
    stolen: float | None = None
    wall_s: float | None = None  # the run's wall time: cpu x wall_s is the generator's CPU seconds


class WaitTimingSelector(selectors.DefaultSelector):
    """The platform selector, timing every blocking wait: how long the event loop had nothing to do."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_s = 0.0

    def select(self, timeout: float | None = None) -> list:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)
        started = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            self.waited_s += time.perf_counter() - started


def run_timed(coroutine: Coroutine[Any, Any, T]) -> tuple[T, GeneratorUsage]:
    """Run ``coroutine`` on a fresh, wait-timed event loop with cyclic GC paused; return it with its usage.

    A GC pass over aiohttp's objects pauses the loop, which shows up as send lag: no collections while sending.
    """
    selector = WaitTimingSelector()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    gc.collect()
    gc.disable()
    try:
        with StealMeter() as steal, asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selector)) as runner:
            result = runner.run(coroutine)
    finally:
        gc.enable()
    wall = max(time.perf_counter() - wall_started, 1e-9)
    return result, GeneratorUsage((time.process_time() - cpu_started) / wall, min(selector.waited_s / wall, 1.0),
                                  steal.share, wall)


def run_open_loop(url: str, schedule: np.ndarray, bodies: Sequence[bytes], config: ClientConfig,
                  warmup_s: float, options: SendOptions = SendOptions()) -> tuple[pd.DataFrame, GeneratorUsage]:
    """Run the open loop; return the records and the generator's CPU use.

    On the asyncio loop, not uvloop: uvloop's clock is libuv's millisecond loop time, too coarse for
    sub-millisecond deadlines (``results/loadgen_bench.json`` holds the clients' measured ceilings).
    """
    recorder, usage = run_timed(open_loop(url, schedule, bodies, config, options))
    return recorder.frame(warmup_s), usage


def run_closed_loop(url: str, bodies: Sequence[bytes], users: Users, config: ClientConfig
                    ) -> tuple[pd.DataFrame, GeneratorUsage]:
    """Run the closed loop; return the issued requests' records and the generator's CPU use."""
    return run_timed(closed_loop(url, bodies, users, config))
