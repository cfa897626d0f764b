"""The CPU time a hypervisor took from this machine while it measured: the steal column of ``/proc/stat``.

On a shared VM the host runs other guests on the same physical cores; the time this guest's virtual CPUs were
ready to run but not running is "steal". It hurts a served request, which sleeps and wakes across three processes
(generator, event loop, inference worker), far more than a busy loop, which keeps its CPU. Every run records the
share, so that a result measured under steal says so instead of passing for the service's speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

PROC_STAT = Path("/proc/stat")
# Above this share of the CPU time asked for, the report flags the results as measured on a starved machine.
STARVED_SHARE = 0.10
# From this share on, a run's closing line names it (below, steal is within a quiet VM's noise).
STEAL_NOTE_SHARE = 0.02


@dataclass(frozen=True)
class CpuTicks:
    """Machine-wide CPU ticks since boot: asked for (running or stolen while runnable), and stolen."""

    demand: int
    steal: int


def read_ticks(path: Path = PROC_STAT) -> CpuTicks | None:
    """The aggregate ``cpu`` line of ``/proc/stat`` (user nice system idle iowait irq softirq steal ...); None
    where there is none (not Linux) or it has no steal column (before Linux 2.6.11)."""
    try:
        fields = path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return CpuTicks(demand=user + nice + system + irq + softirq + steal, steal=steal)


def stolen_share(before: CpuTicks | None, after: CpuTicks | None) -> float | None:
    """Share of the CPU time this machine's processes asked for between two readings that the hypervisor gave
    to others; None without readings or without demand."""
    if before is None or after is None or after.demand <= before.demand:
        return None
    return (after.steal - before.steal) / (after.demand - before.demand)


class StealMeter:
    """``with StealMeter() as meter: ...`` then ``meter.share``: the stolen share over the block."""

    def __init__(self, path: Path = PROC_STAT) -> None:
        self.path = path
        self.before: CpuTicks | None = None
        self.share: float | None = None

    def __enter__(self) -> StealMeter:
        self.before = read_ticks(self.path)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.share = stolen_share(self.before, read_ticks(self.path))


def stolen_note(share: float | None) -> str:
    """``, 23 % of the CPU stolen`` for a run's closing line when the hypervisor took a noticeable share, else
    nothing: the one figure that explains a slow run on a shared VM."""
    return f", {share:.0%} of the CPU stolen" if share is not None and share >= STEAL_NOTE_SHARE else ""


def stolen_summary(shares: list[float | None]) -> str | None:
    """The stolen share of several runs as median (range) and count, flagged past ``STARVED_SHARE``; None when no
    run measured it (results from before the meter, or not Linux)."""
    measured = [share for share in shares if share is not None]
    if not measured:
        return None
    median = float(np.median(measured))
    text = f"{median:.0%} median ({min(measured):.0%}-{max(measured):.0%}) over {len(measured)} runs"
    if median >= STARVED_SHARE:
        text += (f", **above {STARVED_SHARE:.0%}: a starved machine**, whose served latencies are slower than the "
                 "services' (`stages/common/cpu_steal.py`)")
    return text
