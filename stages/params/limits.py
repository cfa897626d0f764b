"""The ``limits`` section: served latency at low load and throughput at saturation."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from stages.params.base import Fraction, Section


class LimitsParams(Section):
    """The serving-limits benchmark: served latency at low load and throughput at saturation."""

    sequential_requests: Annotated[int, Field(ge=10)] = 200
    saturation_seconds: Annotated[float, Field(gt=0.0)] = 20.0
    saturation_concurrency: Annotated[int, Field(ge=1)] = 64  # the ramp's last step (1, 2, 4, ... users)
    ramp_step_seconds: Annotated[float, Field(gt=0.0)] = 2.0
    max_shed_share: Fraction = 0.01  # the saturation point: the highest step whose failed share stays within
    warmup_requests: Annotated[int, Field(ge=0)] = 20
    raw_repeats: Annotated[int, Field(ge=3)] = 30
    rounds: Annotated[int, Field(ge=1, le=20)] = 4
    request_timeout_s: Annotated[float, Field(gt=0.0)] = 60.0  # a request unanswered this long counts as an error

    @model_validator(mode="after")
    def _every_round_measures(self) -> LimitsParams:
        if min(self.raw_repeats, self.sequential_requests) < self.rounds:
            raise ValueError("raw_repeats and sequential_requests must each be at least rounds")
        return self
