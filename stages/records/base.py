"""The base of every record, and the latency statistics several records share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    """Strict about unknown keys: a key the model does not know means writer and reader disagree."""

    model_config = ConfigDict(extra="forbid")


class RecordFile(Result):
    """A record written as a file of its own: it says its format, so that a reader given a file of another
    format (written by other code) refuses it by name instead of misreading it. Files from before the versioning
    are format 1."""

    format_version: Literal[1] = 1


class LatencyStats(Result):
    """Percentiles, max, mean and count of latency samples in milliseconds (None when there are none)."""

    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None
    max: float | None
    mean: float | None
    count: int
    # Timed in interleaved rounds (validate): the p50's CI from the rounds' medians, their CV, and whether that
    # spread says the machine was disturbed.
    p50_ci: list[float] | None = None
    round_cv: float | None = None
    rounds: int | None = None
    disturbed: bool | None = None
