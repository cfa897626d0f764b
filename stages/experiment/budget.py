"""A load test's length held to its budget on a slow machine: ``repeats: auto`` promises ``auto.min_repeats``
blocks within ``auto.budget_minutes``, and a rate stated against a measured capacity falls with the machine (the
development VM's baseline capacity ranged from 1.7 to 11.9 req/s), so a run sized by requests grows as the machine
slows. When the first blocks would overrun the budget, each run is cut to fit, never below ``auto.shortest_run``
requests; the cut is recorded (``runs.json``: ``offered``), and the statistics name what the shorter runs can
no longer back (a tail percentile needs its requests: stages/stats/arms.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from stages.params.loadgen import ScenarioParams
from stages.params.loadtest import LoadtestParams

SERVER_START_ESTIMATE_S = 20.0  # a fresh server's model load and warm-up


@dataclass(frozen=True)
class BlockShape:
    """What one block of a scenario costs besides its schedules: the arms, and how many servers it starts."""

    arms: int
    fresh_per_run: bool  # a fresh server per run (else the block's arms start together and share slots)

    def overhead_s(self) -> float:
        """Seconds a block spends starting servers."""
        return SERVER_START_ESTIMATE_S * (self.arms if self.fresh_per_run else 1)

    def block_s(self, schedule_s: float) -> float:
        """Seconds one block takes when each run's schedule lasts ``schedule_s``."""
        return self.arms * schedule_s + self.overhead_s()


def fitted_requests(settings: ScenarioParams, rate: float, loadtest: LoadtestParams, shape: BlockShape
                    ) -> int | None:
    """Requests per run that let ``auto.min_repeats`` blocks fit ``auto.budget_minutes``: the stated ones when
    they fit (or when the repeats are fixed, or cutting is off), else fewer, down to ``auto.shortest_run``, at
    ``rate`` req/s. None: the scenario is sized by duration."""
    stated = settings.requests
    if stated is None:
        return None
    auto = loadtest.auto
    if loadtest.repeats != "auto" or auto.shortest_run is None or stated <= auto.shortest_run:
        return stated
    per_block_s = 60.0 * auto.budget_minutes / auto.min_repeats
    if shape.block_s(stated / rate) <= per_block_s:
        return stated
    fit = math.floor((per_block_s - shape.overhead_s()) / shape.arms * rate)
    return max(auto.shortest_run, min(stated, fit))


def expected_minutes(settings: ScenarioParams, rate: float, blocks: int, shape: BlockShape) -> float:
    """Minutes ``blocks`` blocks take at these settings and ``rate`` req/s (the progress line's ETA)."""
    schedule_s = settings.duration_s or (settings.requests or 0) / rate
    return blocks * shape.block_s(schedule_s) / 60.0
