"""The machine's state over a run, as the probe and the neighbour record it."""

from __future__ import annotations

from stages.records.base import Result


class MachineState(Result):
    """What the machine did during a slot, run or capacity step, seen by the probe (stages/common/probe.py):
    the share of its busy time a hypervisor took, how late its sleeping client woke (round trip beyond the
    work), how many answers back them; and the machine-wide ``/proc/stat`` share, which the arms' demand moves."""

    readings: int
    probe_stolen: float | None = None
    wake_p50_ms: float | None = None
    wake_p99_ms: float | None = None
    machine_stolen: float | None = None


class NeighbourRecord(Result):
    """The noisy neighbour that ran beside a load test (stages/common/neighbour.py): settings and phases."""

    hogs: int
    duty: float
    phase_s: list[float]
    seed: int
    busy_share: float  # of the phases drawn, the share of time busy
