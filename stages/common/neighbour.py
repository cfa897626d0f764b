"""A noisy neighbour anyone can switch on: CPU hogs busy together in seeded random phases.

A shared VM's co-tenants come and go in bursts; this brings one to any machine, reproducibly, so that a verdict can
be shown to survive it (docs/method.md, "Switchback"). Time is cut into phases of uniform random length in
``phase_s``; each phase is busy with probability ``duty``, and in a busy phase ``hogs`` processes spin on the CPU
(real processes competing for the same cores as the measured services, not a model). Every hog draws the same
phases from the seed, so they are busy together without talking to each other.

``python -m stages.common.neighbour [--duty 0.4] [--phase 10 60] [--hogs 2] [--seed 0] [--minutes M]`` runs one
beside anything until stopped (``make neighbour``); the load tests and capacity steps start one themselves when
``machine.neighbour.enabled`` is true.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from stages.params.machine import NeighbourParams
from stages.records.machine import NeighbourRecord

SPIN_CHECK_S = 0.01  # a busy hog looks at the clock this often
STOP_JOIN_S = 5.0
DUTY_HORIZON_S = 3600.0  # the drawn phases' busy share is reported over this span


@dataclass(frozen=True)
class Phase:
    start_s: float  # from the neighbour's start
    end_s: float
    busy: bool


def phases(settings: NeighbourParams) -> Iterator[Phase]:
    """The endless seeded sequence of phases every hog follows."""
    rng = random.Random(settings.seed)
    start = 0.0
    while True:
        length = rng.uniform(*settings.phase_s)
        yield Phase(start, start + length, rng.random() < settings.duty)
        start += length


def busy_share(settings: NeighbourParams, horizon_s: float = DUTY_HORIZON_S) -> float:
    """The share of the first ``horizon_s`` seconds that the drawn phases keep busy."""
    busy = 0.0
    for phase in phases(settings):
        if phase.start_s >= horizon_s:
            break
        busy += (min(phase.end_s, horizon_s) - phase.start_s) * phase.busy
    return busy / horizon_s


def _hog(settings: NeighbourParams, origin: float) -> None:
    """Spin through busy phases and sleep through idle ones, on the shared clock from ``origin`` (unix time)."""
    for phase in phases(settings):
        end = origin + phase.end_s
        if not phase.busy:
            time.sleep(max(end - time.time(), 0.0))
            continue
        while time.time() < end:
            stop = time.time() + SPIN_CHECK_S
            while time.time() < stop:
                pass


class NoisyNeighbour:
    """``with NoisyNeighbour(settings) as neighbour: ...``: the hogs run for the block, then stop."""

    def __init__(self, settings: NeighbourParams) -> None:
        self.settings = settings
        self._hogs: list[multiprocessing.process.BaseProcess] = []

    def __enter__(self) -> NoisyNeighbour:
        context = multiprocessing.get_context("spawn")
        origin = time.time()
        self._hogs = [context.Process(target=_hog, args=(self.settings, origin), daemon=True)
                      for _ in range(self.settings.hogs)]
        for hog in self._hogs:
            hog.start()
        print(f"neighbour: {self.settings.hogs} CPU hogs busy together in {self.settings.duty:.0%} of random "
              f"{self.settings.phase_s[0]:g}-{self.settings.phase_s[1]:g} s phases (seed {self.settings.seed})",
              file=sys.stderr, flush=True)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for hog in self._hogs:
            hog.terminate()
        for hog in self._hogs:
            hog.join(timeout=STOP_JOIN_S)

    def record(self) -> NeighbourRecord:
        return NeighbourRecord(hogs=self.settings.hogs, duty=self.settings.duty, phase_s=list(self.settings.phase_s),
                               seed=self.settings.seed, busy_share=busy_share(self.settings))

    @property
    def alive(self) -> int:
        return sum(hog.is_alive() for hog in self._hogs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = NeighbourParams()
    parser.add_argument("--duty", type=float, default=defaults.duty, help="share of phases that are busy")
    parser.add_argument("--phase", type=float, nargs=2, default=defaults.phase_s, metavar=("SHORTEST", "LONGEST"),
                        help="phase length range (s)")
    parser.add_argument("--hogs", type=int, default=defaults.hogs, help="processes that spin in a busy phase")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long (default: until stopped)")
    args = parser.parse_args(argv)
    settings = NeighbourParams(enabled=True, hogs=args.hogs, duty=args.duty, phase_s=list(args.phase), seed=args.seed)
    started = time.monotonic()
    with NoisyNeighbour(settings):
        try:
            while args.minutes is None or time.monotonic() - started < 60 * args.minutes:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    print(f"neighbour: stopped after {(time.monotonic() - started) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
