"""The ``capacity`` section: the search for the highest rate meeting the p99 objective."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stages.params.base import Fraction, Section


class CapacityParams(Section):
    """The highest exponential arrival rate whose p99 (from the schedule) meets the objective."""

    slo_p99_ms: Annotated[float, Field(gt=0.0)] = 1000.0
    max_error_rate: Fraction = 0.01
    # The first step's rate; "saturation": the service's served saturation throughput from the limits stage,
    # which bounds capacity from above, so the search starts near the knee instead of walking up to it.
    start_rate: Annotated[float, Field(gt=0.0)] | Literal["saturation"] = "saturation"
    growth: Annotated[float, Field(gt=1.0)] = 2.0
    precision: Annotated[float, Field(gt=0.0)] = 0.25  # stop when the bracket is this narrow (relative)
    max_steps: Annotated[int, Field(ge=2, le=30)] = 7
    # No step below this rate: one of 460 requests at 1 req/s takes ~8 min, and the load tests at half of it hours.
    min_rate: Annotated[float, Field(gt=0.0)] = 1.0
    requests_per_step: Annotated[int, Field(ge=10)] = 460  # measured requests; >= 459 for a p99 claim
    warmup_s: Annotated[float, Field(ge=0.0)] = 3.0
    timeout_s: Annotated[float, Field(gt=0.0)] = 30.0
    seed: int = 21
