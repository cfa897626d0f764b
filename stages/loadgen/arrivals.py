"""Arrival processes for open-loop load: the whole schedule is drawn up front from a seeded RNG.

A schedule is an array of absolute offsets (seconds from the start of the run), so every request has a
deadline that does not depend on how earlier requests fared, and two runs (or several generator processes) with
the same seed send at exactly the same offsets. Gamma inter-arrival times with mean 1/rate have a coefficient of
variation 1/sqrt(shape): shape 1 is Poisson, smaller shapes are burstier.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import stats

from stages.common.errors import ServebenchError
from stages.records.load import GapFit

Process = Literal["exponential", "gamma", "constant", "trace"]


@dataclass(frozen=True)
class ArrivalSpec:
    """What to draw: the process, its mean rate (req/s) and shape, and how many requests or how long."""

    process: Process
    rate: float = 1.0
    shape: float = 1.0
    requests: int | None = None
    duration_s: float | None = None
    trace_file: str | None = None
    seed: int = 0


def gap_distribution(spec: ArrivalSpec) -> stats.rv_continuous | None:
    """The frozen scipy distribution of inter-arrival gaps; None for processes without one."""
    if spec.process == "exponential":
        return stats.expon(scale=1.0 / spec.rate)
    if spec.process == "gamma":
        return stats.gamma(a=spec.shape, scale=1.0 / (spec.shape * spec.rate))
    return None


class TraceError(ServebenchError):
    """An arrival trace file that cannot drive a run."""


def read_trace(path: Path) -> np.ndarray:
    """Timestamps (seconds, one per line, any origin, '#' comments allowed) as offsets from the first."""
    if not path.is_file():
        raise TraceError(f"{path}: no such trace file (loadgen.scenarios.<name>.trace_file)")
    try:
        values = np.loadtxt(path, comments="#", ndmin=1, dtype=float)
    except ValueError as exc:
        raise TraceError(f"{path}: not one number per line: {exc}") from None
    if values.size == 0:
        raise TraceError(f"{path}: trace holds no timestamps")
    if np.any(np.diff(values) < 0):
        raise TraceError(f"{path}: trace timestamps must be non-decreasing")
    return values - values[0]


def draw_schedule(spec: ArrivalSpec) -> np.ndarray:
    """Absolute send offsets in seconds, starting at 0, for ``spec.requests`` or ``spec.duration_s``."""
    if spec.process == "trace":
        offsets = read_trace(Path(spec.trace_file or ""))
    else:
        count = spec.requests or max(1, int(np.ceil((spec.duration_s or 0.0) * spec.rate * 1.5)) + 16)
        distribution = gap_distribution(spec)
        if distribution is None:
            gaps = np.full(count - 1, 1.0 / spec.rate)
        else:
            gaps = distribution.rvs(size=count - 1, random_state=np.random.default_rng(spec.seed))
        offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    if spec.requests is not None:
        offsets = offsets[: spec.requests]
    if spec.duration_s is not None:
        offsets = offsets[offsets < spec.duration_s]
    return offsets


def schedule_fit(gaps: np.ndarray, spec: ArrivalSpec) -> GapFit | None:
    """One-sample KS test of *drawn* gaps against the target distribution: does the sampler draw what it should?

    The drawn schedule has no timing noise, so here a p-value is the right tool: a wrong distribution or rate is
    rejected, a correct sampler passes at the significance level. Every run of a scenario (and every synthetic
    run of the calibration) tests the same seeded schedule, and the exact KS p-value is costly: it is computed
    once per schedule.
    """
    return _schedule_fit(np.ascontiguousarray(gaps, dtype=float).tobytes(), spec)


@functools.lru_cache(maxsize=256)
def _schedule_fit(gap_bytes: bytes, spec: ArrivalSpec) -> GapFit | None:
    gaps = np.frombuffer(gap_bytes)
    distribution = gap_distribution(spec)
    if distribution is None or len(gaps) < 2:
        return None
    result = stats.kstest(gaps, distribution.cdf)
    return GapFit(statistic=float(result.statistic), pvalue=float(result.pvalue), n=len(gaps))


def shifted_ks_distance(first: np.ndarray, second: np.ndarray, tolerance: float) -> float:
    """The largest gap between two empirical CDFs that a shift of up to ``tolerance`` cannot explain:
    ``sup_x max(F1(x) - F2(x + t), F2(x) - F1(x + t), 0)`` (the Levy metric's form at a fixed shift ``t``).

    Zero when every value of one set lies within ``tolerance`` of the matching quantile of the other, so a
    constant-rate schedule (every gap 250 ms) sent with 0.3 ms of jitter scores 0, where flooring both to a
    1 ms grid and taking the plain KS distance scored 0.5 (a 249.8 ms gap floors to 249, not 250).
    """
    first, second = np.sort(first), np.sort(second)

    def cdf(sample: np.ndarray, at: np.ndarray) -> np.ndarray:
        return np.searchsorted(sample, at, side="right") / len(sample)

    # A difference F1(x) - F2(x + t) peaks where F1 jumps (at the points of ``first``); and symmetrically.
    ahead = cdf(first, first) - cdf(second, first + tolerance)
    behind = cdf(second, second) - cdf(first, second + tolerance)
    return float(max(ahead.max(), behind.max(), 0.0))


def realised_fit(realised_gaps: np.ndarray, scheduled_gaps: np.ndarray, resolution_s: float) -> GapFit | None:
    """How far the gaps the generator realised are from the gaps it was told to send, at a resolution.

    An effect size, bounded by a param: with tens of thousands of gaps any sub-millisecond jitter makes a
    p-value vanish, however harmless to the traffic's shape. Shifts up to ``resolution_s`` are forgiven
    (:func:`shifted_ks_distance`): jitter below the timing resolution that matters to the server (a fraction of
    its service time) is not a distortion of the traffic, while stalls, bunching and a wrong rate move gaps by
    more. Comparing with the drawn gaps (not the theoretical distribution) keeps the sampling noise of a short
    schedule out of the generator's score; the sampler has its own test (:func:`schedule_fit`).
    """
    if len(realised_gaps) < 2 or len(scheduled_gaps) < 2:
        return None
    distance = shifted_ks_distance(realised_gaps, scheduled_gaps, max(resolution_s, 0.0))
    return GapFit(statistic=distance, pvalue=None, n=len(realised_gaps))


def gap_cdf_curves(gaps: np.ndarray, spec: ArrivalSpec, points: int = 200) -> dict[str, list[float]]:
    """Realised (empirical) vs target CDF of inter-arrival gaps on a log grid: the study's fidelity check.

    An ECDF needs no smoothing: a kernel density bent the realised curve to zero near 0 ms (a gamma gap
    distribution with shape < 1 has its mode there), so a faithful bursty generator looked wrong. The log grid
    spans the gaps' 0.1th to 99.9th percentile, where bursts (short gaps) and lulls (long ones) both show."""
    positive = gaps[gaps > 0]
    low = float(np.quantile(positive, 0.001)) if len(positive) else 1e-4
    high = float(np.quantile(positive, 0.999)) if len(positive) else 1.0
    grid = np.geomspace(max(low, 1e-6), max(high, low * 10, 1e-5), points)
    realised = np.searchsorted(np.sort(gaps), grid, side="right") / max(len(gaps), 1)
    distribution = gap_distribution(spec)
    target = distribution.cdf(grid) if distribution is not None else np.full(points, np.nan)
    return {"gap_s": grid.tolist(), "realised_cdf": realised.tolist(), "target_cdf": target.tolist()}
