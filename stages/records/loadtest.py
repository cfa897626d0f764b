"""A scenario's load test (``runs.json``): its runs, slots and carry-over checks."""

from __future__ import annotations

from typing import Any, Literal

from stages.records.base import RecordFile, Result
from stages.records.load import OfferedLoad, ProcessCost
from stages.records.machine import MachineState, NeighbourRecord


class Slot(Result):
    """One slot of a switchback block: one arm sent one segment of the schedule ``[start_s, end_s)``, then its
    requests drained before the next slot began."""

    repeat: int
    pair: int  # the segment: every arm sends it once, in a seeded order
    arm: str
    order: int  # position within the pair
    start_s: float
    end_s: float
    requests: int
    drain_s: float  # from the segment's last send to its last answer
    max_lag_ms: float | None = None  # the slot's latest send against its schedule
    started_unix: float | None = None  # wall clock: when the slot began and ended (drained)
    ended_unix: float | None = None
    machine: MachineState
    cpu_ms: list[float] | None = None  # the arm's server CPU over the slot: event loop, inference, other (ms)
    rss_mb: float | None = None  # its resident memory as the slot ended


class CarryOver(Result):
    """A switchback run's first request of each slot against its other requests (stages/stats/carryover.py)."""

    slots: int
    first_p50_ms: float
    rest_p50_ms: float
    ratio: float  # first / rest medians: ~1 when nothing carries over from the slot before
    p_value: float  # Mann-Whitney, two-sided


class LoadtestRun(Result):
    """One run of a scenario; ``path`` is relative to the scenario's folder."""

    service: str
    repeat: int
    order: int
    path: str
    valid: bool
    reasons: list[str]
    attempt: int = 0  # 0: the block's scheduled run; k: its k-th rerun after a failed audit
    server_ready_s: float | None = None  # cold start of the run's fresh server: launch -> /readyz
    cpu_stolen: float | None = None  # share of the machine's CPU time a hypervisor took during the run
    machine: MachineState | None = None  # the probe over the run (its slots', for a switchback block)
    carryover: CarryOver | None = None  # switchback: does a slot's first request differ from the rest
    cost: ProcessCost | None = None  # CPU and memory of the arm's server over the run (its slots)


class LoadtestIndex(RecordFile):
    """``results/loadtest/<scenario>/runs.json``: every run in the order it ran, with its validity."""

    scenario: str
    variants: dict[str, str]
    standin: bool
    runs: list[LoadtestRun]
    environment: dict[str, Any]  # free-form: stages/common/environment.py
    offered: OfferedLoad | None = None
    protocol: Literal["switchback", "fresh-per-run"] = "fresh-per-run"
    slot_s: float | None = None
    slots: list[Slot] = []
    neighbour: NeighbourRecord | None = None
