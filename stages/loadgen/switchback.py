"""Switchback sending: one schedule, cut into short slots, sent to every arm in turn on warm servers.

On a shared VM the hypervisor's steal comes and goes within a minute, so two arms measured minutes apart see
different machines and the ratio measures the machine (docs/method.md, "Switchback"). Here the schedule is cut
into segments of ``slot_s`` seconds; each segment (a *pair*: one slot per arm) goes to every arm, with the same
payloads, in a seeded random order, and a slot starts only after the previous slot's requests have drained. Each
arm's requests are stamped on the arm's own clock, which runs only during its slots and starts each slot at the
segment's start: an arm's records read like one uninterrupted open-loop run of the whole schedule, so the
summary, the fidelity audit and the comparison read them unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stages.common.artifacts import SLOT_COLUMN
from stages.loadgen.client import (
    START_LEAD_S,
    ClientConfig,
    GeneratorUsage,
    RunRecorder,
    recording,
    run_timed,
    send_due,
    stamping,
)
from stages.loadgen.pools import open_pool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedSlot:
    pair: int
    arm: str
    order: int  # position within the pair
    start_s: float  # the segment, in schedule seconds
    end_s: float
    rows: np.ndarray  # schedule indices sent in this slot


@dataclass(frozen=True)
class SentSlot:
    """A slot as it ran: the plan, its wall-clock span (unix times), its drain after the last send, and its
    worst send lag: the generator's fidelity slot by slot, beside the audit of the arm's whole run."""

    planned: PlannedSlot
    wall_start: float
    wall_end: float
    drain_s: float
    max_lag_ms: float | None  # the slot's latest send against its schedule (None: nothing was sent)


def slot_plan(schedule: np.ndarray, slot_s: float, arms: Sequence[str], seed: int) -> list[PlannedSlot]:
    """Every non-empty segment of ``slot_s`` schedule seconds, once per arm, arms in a seeded order per pair."""
    rng = random.Random(seed)
    segment = np.floor(schedule / slot_s).astype(int)
    plan = []
    for pair, index in enumerate(np.unique(segment)):
        rows = np.flatnonzero(segment == index)
        order = list(arms)
        rng.shuffle(order)
        plan += [PlannedSlot(pair, arm, position, index * slot_s, (index + 1) * slot_s, rows)
                 for position, arm in enumerate(order)]
    return plan


OnSlot = Callable[[SentSlot], None]


async def switchback(urls: dict[str, str], schedule: np.ndarray, bodies: Sequence[bytes], config: ClientConfig,
                     plan: list[PlannedSlot], on_slot: OnSlot | None = None) -> dict[str, RunRecorder]:
    """Send the plan's slots in order, each arm through its own connection pool; one recorder per arm."""
    loop = asyncio.get_running_loop()
    recorders = {arm: RunRecorder(schedule, range(len(schedule))) for arm in urls}
    origins = dict.fromkeys(urls, loop.time())

    def clock(arm: str) -> Callable[[], float]:
        return lambda: loop.time() - origins[arm]

    pools = {arm: open_pool(config.client, url, config.connections, config.timeout_s,
                            recording(recorders[arm], clock(arm)), stamping(recorders[arm], clock(arm)))
             for arm, url in urls.items()}
    pairs, started = max((slot.pair for slot in plan), default=-1) + 1, time.monotonic()
    try:
        for slot in plan:
            wall_start = time.time()
            origins[slot.arm] = loop.time() + START_LEAD_S - slot.start_s
            await send_due(pools[slot.arm], recorders[slot.arm], [(int(row), int(row)) for row in slot.rows],
                           (schedule, bodies), origins[slot.arm], config.max_in_flight)
            last_send = loop.time()
            await pools[slot.arm].drained()
            lag = recorders[slot.arm].sent[slot.rows] - schedule[slot.rows]
            sent = SentSlot(slot, wall_start, time.time(), loop.time() - last_send,
                            float(np.nanmax(lag)) * 1e3 if np.isfinite(lag).any() else None)
            if on_slot is not None:
                on_slot(sent)
            if slot.order == len(urls) - 1 and (slot.pair + 1) % 10 == 0:
                elapsed = time.monotonic() - started
                logger.info(f"switchback: pair {slot.pair + 1}/{pairs}, {elapsed:.0f} s, ETA "
                            f"{elapsed / (slot.pair + 1) * (pairs - slot.pair - 1):.0f} s")
    finally:
        for pool in pools.values():
            await pool.close()
    return recorders


def run_switchback(urls: dict[str, str], schedule: np.ndarray, bodies: Sequence[bytes], config: ClientConfig,
                   warmup_s: float, plan: list[PlannedSlot], on_slot: OnSlot | None = None
                   ) -> tuple[dict[str, pd.DataFrame], GeneratorUsage]:
    """Every arm's records (with the pair each request was sent in) and the generator's usage over the block."""
    recorders, usage = run_timed(switchback(urls, schedule, bodies, config, plan, on_slot))
    pair_of = np.empty(len(schedule), dtype=np.int32)
    for slot in plan:
        pair_of[slot.rows] = slot.pair
    frames = {}
    for arm, recorder in recorders.items():
        frame = recorder.frame(warmup_s)
        frame[SLOT_COLUMN] = pair_of
        frames[arm] = frame
    return frames, usage
