"""The ``cost`` section: the prices behind the derived cost figures."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stages.params.base import Section


class CostParams(Section):
    """Prices and the load the derived cost figures assume (stages/stats/cost.py): an estimate, stated with them."""

    core_hour: Annotated[float, Field(gt=0.0)] = 0.021811  # $ per vCPU-hour (Google Cloud E2, us-central1, 2024)
    gb_hour: Annotated[float, Field(ge=0.0)] = 0.002923  # $ per GB-hour of memory (the same source)
    target_rate_per_s: Annotated[float, Field(gt=0.0)] = 100.0  # the load the cores are sized for
