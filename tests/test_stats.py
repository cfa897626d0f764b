"""The comparison statistics on synthetic samples with known answers, and the capacity search on a known knee."""

from __future__ import annotations

import numpy as np
import pytest

from stages.loadgen.arrivals import ArrivalSpec, draw_schedule
from stages.loadgen.capacity import bracket_search
from stages.loadgen.client import ClientConfig, run_open_loop
from stages.stats.effects import cliffs_delta, hodges_lehmann, ratio_ci
from stages.stats.significance import holm, mann_whitney_p, verdict

p50 = lambda x: float(np.percentile(x, 50))  # noqa: E731


def lognormal_runs(rng: np.random.Generator, median_ms: float, runs: int = 3, size: int = 200) -> list[np.ndarray]:
    """Latency-like samples: each run has its own small level shift, as real repeats do."""
    return [median_ms * np.exp(rng.normal(0, 0.05)) * rng.lognormal(0.0, 0.4, size) for _ in range(runs)]


def test_a_known_multiplicative_shift_is_found_and_its_ci_covers_the_truth() -> None:
    covered, right_sign = 0, 0
    for trial in range(200):
        rng = np.random.default_rng(trial)
        baseline, optimized = lognormal_runs(rng, 100.0), lognormal_runs(rng, 40.0)
        ratio, unit = ratio_ci(baseline, optimized, p50, resamples=200, seed=trial)
        assert unit == "runs"
        covered += ratio.low <= 0.4 <= ratio.high
        right_sign += ratio.high < 1.0
    assert right_sign == 200
    assert covered >= 160  # a 95 % interval from three runs a side: most trials, not all


def test_identical_distributions_give_no_meaningful_change_in_most_trials() -> None:
    verdicts = []
    for trial in range(200):
        rng = np.random.default_rng(1000 + trial)
        baseline, optimized = lognormal_runs(rng, 50.0), lognormal_runs(rng, 50.0)
        ratio, _ = ratio_ci(baseline, optimized, p50, resamples=200, seed=trial)
        p = mann_whitney_p(np.concatenate(baseline), np.concatenate(optimized))
        verdicts.append(verdict(ratio, p, threshold=0.05, alpha=0.05))
    assert verdicts.count("no meaningful change") >= 180


def test_hodges_lehmann_and_cliffs_delta_on_a_pure_shift() -> None:
    rng = np.random.default_rng(0)
    baseline = rng.exponential(10.0, 800) + 50.0
    optimized = rng.exponential(10.0, 800) + 20.0  # 30 ms faster
    shift = hodges_lehmann(baseline, optimized)
    assert shift.low <= -30.0 <= shift.high and shift.estimate == pytest.approx(-30.0, abs=2.0)
    assert cliffs_delta(baseline, optimized) < -0.9  # nearly every optimized sample is the faster one
    assert cliffs_delta(baseline, baseline) == pytest.approx(0.0)


def test_holm_matches_a_hand_computed_case() -> None:
    # sorted p: 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 = 0.04, 0.06, 0.06 (monotone), 0.06 (monotone)
    assert holm([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_verdict_rules() -> None:
    from stages.stats.effects import Interval

    assert verdict(Interval(0.5, 0.4, 0.6), 0.001, 0.05, 0.05) == "faster"
    assert verdict(Interval(1.5, 1.3, 1.7), 0.001, 0.05, 0.05) == "slower"
    assert verdict(Interval(0.98, 0.96, 0.99), 0.001, 0.05, 0.05) == "no meaningful change"  # below threshold
    assert verdict(Interval(0.5, 0.4, 0.6), 0.2, 0.05, 0.05) == "no meaningful change"  # not significant
    assert verdict(Interval(2.0, 1.5, 2.5), 0.0, 0.05, 0.05, higher_is_better=True) == "faster"



def test_capacity_search_finds_the_knee_of_a_server_with_a_known_service_time(null_server: str) -> None:
    """``/serial?ms=20`` serves one request at a time in 20 ms: nothing above 50 req/s can meet a p99 objective."""
    def probe(rate: float) -> tuple[bool, float]:
        spec = ArrivalSpec("exponential", rate=rate, duration_s=3.0, seed=int(rate))
        schedule = draw_schedule(spec)
        records, _ = run_open_loop(f"{null_server}/serial?ms=20", schedule, [b"{}"] * len(schedule),
                                   ClientConfig(timeout_s=10), 0.5, progress_every_s=None)
        p99 = float(np.percentile(records["latency_ms"].fillna(np.inf), 99))
        return p99 <= 250.0, p99

    found = bracket_search(probe, start=10.0, growth=2.0, precision=0.1, max_probes=7)
    assert found.passed is not None and found.failed is not None
    assert 20.0 <= found.passed < 50.0 < found.failed * 1.5
    assert [p.passed for p in found.probes][:2] == [True, True]  # 10 and 20 req/s are well inside
