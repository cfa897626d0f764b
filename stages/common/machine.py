"""The machine a measuring stage runs on: the probe that watches it, and the neighbour switched on to disturb it.

``with watched_machine(params.machine) as machine:`` starts the probe (always) and the noisy neighbour (when
``machine.neighbour.enabled``) for the whole stage; ``machine.state(start, end)`` reads the probe over a span and
``/proc/stat`` beside it (:meth:`Watch.span` times a block of work).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from stages.common.cpu_steal import StealMeter
from stages.common.neighbour import NoisyNeighbour
from stages.common.probe import MachineProbe, ProbeSettings
from stages.params.machine import MachineParams
from stages.records.machine import MachineState, NeighbourRecord


@dataclass
class Span:
    """A timed span of work: filled in when its ``with`` block ends."""

    start: float = 0.0
    end: float = 0.0
    state: MachineState | None = None


@dataclass
class Watch:
    probe: MachineProbe
    neighbour: NeighbourRecord | None

    @contextlib.contextmanager
    def span(self) -> Iterator[Span]:
        """``with watch.span() as span: work()``; then ``span.state`` is the machine during the work."""
        span = Span(start=time.time())
        with StealMeter() as meter:
            yield span
        span.end = time.time()
        span.state = self.probe.window(span.start, span.end, meter.share)


@contextlib.contextmanager
def watched_machine(settings: MachineParams) -> Iterator[Watch]:
    neighbour = NoisyNeighbour(settings.neighbour) if settings.neighbour.enabled else None
    with MachineProbe(ProbeSettings(settings.probe.gap_s, settings.probe.work_s)) as probe, \
            neighbour or contextlib.nullcontext():
        yield Watch(probe, neighbour.record() if neighbour else None)


def probe_note(machine: MachineState | None) -> str:
    """``; probe: 3 % stolen, wake p99 0.4 ms`` for a run's or step's closing line."""
    if machine is None or machine.probe_stolen is None:
        return ""
    return f"; probe: {machine.probe_stolen:.0%} stolen, wake p99 {machine.wake_p99_ms or 0:.1f} ms"
