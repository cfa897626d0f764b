"""Find the highest rate that passes a criterion: grow until a failure, then bisect the bracket.

Library code shared by the generator benchmark (its own ceiling) and the capacity stage (a service's capacity
under a latency objective), after MLPerf LoadGen's ``FindPeakPerformanceBinarySearch``. The probe is any
function of a rate that reports pass or fail; every probe is kept, so a reader sees the whole search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Probe(Generic[T]):
    rate: float
    passed: bool
    detail: T


@dataclass
class Bracket(Generic[T]):
    """The highest rate that passed and the lowest failing rate above it (None: no failure found)."""

    passed: float | None
    failed: float | None
    probes: list[Probe[T]] = field(default_factory=list)


def bracket_search(probe: Callable[[float], tuple[bool, T]], start: float, growth: float = 2.0,
                   precision: float = 0.1, max_probes: int = 12, min_rate: float = 0.0) -> Bracket[T]:
    """Probe ``start``; grow by ``growth`` until a failure (or shrink until a pass); bisect the bracket.

    Stops when the bracket is narrower than ``precision`` relative to its lower end, or after ``max_probes``.
    A rate below ``min_rate`` is never probed: if even that fails, ``passed`` is None.
    """
    if start <= 0 or growth <= 1 or precision <= 0:
        raise ValueError("bracket_search needs start > 0, growth > 1 and precision > 0")
    result: Bracket[T] = Bracket(None, None)

    def run(rate: float) -> bool:
        passed, detail = probe(rate)
        result.probes.append(Probe(rate, passed, detail))
        if passed:
            result.passed = max(result.passed or 0.0, rate)
        else:
            result.failed = rate if result.failed is None else min(result.failed, rate)
        return passed

    rate = start
    if run(rate):
        while result.failed is None and len(result.probes) < max_probes:
            rate *= growth
            run(rate)
    else:
        while result.passed is None and len(result.probes) < max_probes and rate / growth >= min_rate:
            rate /= growth
            run(rate)
    while (result.passed is not None and result.failed is not None and len(result.probes) < max_probes
           and (result.failed - result.passed) / result.passed > precision):
        run((result.passed + result.failed) / 2)
    return result
