"""The ``machine`` section: the probe that watches the machine and the neighbour that disturbs it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from stages.params.base import Section


class MachineProbeParams(Section):
    """The machine probe (stages/common/probe.py): a ping-pong between two processes every ``gap_s``, each
    answer after ``work_s`` of CPU, through every load test and capacity step: steal and wake-up delay that the
    arms' own CPU demand cannot move."""

    gap_s: Annotated[float, Field(gt=0.0, le=10.0)] = 0.1
    work_s: Annotated[float, Field(gt=0.0, le=0.1)] = 0.001


class NeighbourParams(Section):
    """A seeded noisy neighbour (stages/common/neighbour.py): ``hogs`` processes busy together in random phases
    of ``phase_s`` seconds, busy in a share ``duty`` of them; started by the load tests and capacity steps when
    enabled, or by `make neighbour` beside anything."""

    enabled: bool = False
    hogs: Annotated[int, Field(ge=1, le=64)] = 2
    duty: Annotated[float, Field(gt=0.0, le=1.0)] = 0.4
    phase_s: Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=2, max_length=2)] = [10.0, 60.0]
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> NeighbourParams:
        if self.phase_s[0] > self.phase_s[1]:
            raise ValueError(f"machine.neighbour.phase_s = {self.phase_s}: expected [shortest, longest] seconds")
        return self


class MachineParams(Section):
    """What the machine does beside the measured services: the probe that watches it, the neighbour that
    disturbs it on purpose."""

    probe: MachineProbeParams = MachineProbeParams()
    neighbour: NeighbourParams = NeighbourParams()
