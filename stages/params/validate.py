"""The ``validate`` section: the accuracy gate and the in-process latency of every variant."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stages.params.base import Fraction, PositiveInt, Section


class LatencyParams(Section):
    """Each batch size is timed ``repeats`` times per variant (fewer where ``max_seconds`` runs out, at least one
    call per round), in ``rounds`` rounds that alternate the variants; a spread of the rounds' medians above
    ``max_round_cv`` marks the figure as disturbed."""

    batch_sizes: Annotated[list[PositiveInt], Field(min_length=1)] = [1, 32]
    warmup: Annotated[int, Field(ge=0)] = 3
    repeats: Annotated[int, Field(ge=3)] = 20
    max_seconds: Annotated[float, Field(gt=0.0)] | None = 10.0
    rounds: Annotated[int, Field(ge=2, le=100)] = 5
    max_round_cv: Annotated[float, Field(gt=0.0)] = 0.15


class ValidateParams(Section):
    batch_size: PositiveInt = 32
    max_f1_drop: Fraction = 0.01
    min_agreement: Fraction = 0.95
    latency: LatencyParams = LatencyParams()
