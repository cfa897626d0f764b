"""The ``compare`` section: run-level paired comparisons and their calibration."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stages.params.base import Section


class CalibrationParams(Section):
    """Synthetic experiments shaped like the measured one, replayed through the compare stage's code path."""

    trials: Annotated[int, Field(ge=20)] = 200  # per case; Monte-Carlo error of a 5 % rate: +-3 % (95 %)
    seed: int = 0


class CompareParams(Section):
    """Run-level paired comparisons (stages/stats/paired.py): verdicts, equivalence bands, tail rules."""

    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05  # family-wise, Holm over every primary verdict
    level: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95  # confidence level of the secondary intervals
    # Blocks a ratio verdict needs: below, "insufficient data" (the ratio is shown, no verdict). The primary
    # intervals are simultaneous over the family and the looks (stages/stats/design.py), not at ``level``.
    min_units: Annotated[int, Field(ge=2, le=50)] = 8
    equivalence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05  # a ratio CI inside 1 +- this: "equivalent"
    error_rate_equivalence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01  # error-rate difference band
    # A percentile is read only from n requests with 1 - q**n >= this (p99: 459, p95: 90, p90: 44): the tail
    # verdict is on the highest percentile each run backs, the pooled p99 needs 459 per arm.
    tail_confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.99
    slo_ms: Annotated[float, Field(gt=0.0)] = 1000.0  # the SLO-miss share counts requests slower than this
    # An arm is overloaded when at least half its runs' latency grows this fast (s per s of schedule) and by at
    # least overload_min_growth_ms over the run: its queue grows, so its latency depends on the run's length and
    # no ratio is claimed (the growth floor keeps a burst inside a short run from reading as overload).
    overload_slope: Annotated[float, Field(gt=0.0)] = 0.02
    overload_min_growth_ms: Annotated[float, Field(ge=0.0)] = 500.0
    # A run is overloaded too when its backlog (requests arrived, not yet answered, at the end of each 5-s window:
    # stages/stats/samples.py) grew over overload_windows windows in a row and passed overload_backlog_s seconds
    # of the offered rate: a queue that saturated mid-run and drained before the end.
    overload_windows: Annotated[int, Field(ge=1)] = 3
    overload_backlog_s: Annotated[float, Field(gt=0.0)] = 5.0
    calibration: CalibrationParams = CalibrationParams()
