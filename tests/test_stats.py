"""The comparison statistics on synthetic runs with known answers, and the capacity search on a known knee.

The calibration tests replay seeded synthetic runs shaped like the committed load tests (run-to-run level
variation, autocorrelated requests) through the compare stage's own functions, >= 200 trials per case.
"""

from __future__ import annotations

import numpy as np
import pytest

from stages.common.params import CompareParams
from stages.common.percentiles import min_requests
from stages.loadgen.arrivals import ArrivalSpec, draw_schedule
from stages.loadgen.capacity import bracket_search
from stages.loadgen.client import ClientConfig, run_open_loop
from stages.stats.arms import add_verdicts, compare_arms
from stages.stats.calibration import CASES, monte_carlo_error, run_case, synthetic_arms, synthetic_run
from stages.stats.comparison import ExcludedRun
from stages.stats.paired import PairedInterval, holm, paired_difference, paired_ratio, verdict
from stages.stats.samples import ArmRuns
from stages.stats.tails import quantile_interval

PARAMS = CompareParams()
TRIALS = 240
BLOCKS = 4  # loadtest.repeats' default


def false_changes(verdicts: dict[str, float]) -> float:
    return verdicts.get("faster", 0.0) + verdicts.get("slower", 0.0)


@pytest.mark.parametrize("run_cv", [0.05, 0.29])
def test_identical_services_are_called_changed_at_most_at_the_nominal_rate(run_cv: float) -> None:
    result = run_case(CASES["identical"], PARAMS, BLOCKS, TRIALS, seed=11, run_cv=run_cv)
    bound = 0.05 + monte_carlo_error(0.05, TRIALS)
    for statistic in ("p50", "p95", "p99", "mean", "throughput", "error_rate"):
        assert false_changes(result.verdicts[statistic]) <= bound, (statistic, result.verdicts[statistic])


@pytest.mark.parametrize("case", ["x0.2", "x0.95"])
@pytest.mark.parametrize("run_cv", [0.05, 0.29])
def test_a_known_shift_is_covered_by_the_ci(case: str, run_cv: float) -> None:
    result = run_case(CASES[case], PARAMS, BLOCKS, TRIALS, seed=12, run_cv=run_cv)
    for statistic in ("p50", "p95", "p99", "mean"):
        assert result.coverage[statistic] >= 0.93, (statistic, result.coverage)
    if case == "x0.2":  # five times faster: found every time, never the wrong way
        assert result.verdicts["p50"] == {"faster": 1.0}


@pytest.mark.parametrize("run_cv", [0.05, 0.29])
def test_a_service_that_fails_its_slowest_requests_is_never_faster(run_cv: float) -> None:
    result = run_case(CASES["fails-slowest"], PARAMS, BLOCKS, TRIALS, seed=13, run_cv=run_cv)
    for statistic in ("p50", "p95", "p99", "mean"):
        assert "faster" not in result.verdicts[statistic], (statistic, result.verdicts[statistic])
    assert result.verdicts["p99"] == {"slower": 1.0} and result.verdicts["error_rate"] == {"more": 1.0}
    assert result.verdicts["throughput"] == {"lower": 1.0}


def test_a_tail_only_regression_is_caught_on_p99_when_enough_requests_back_it() -> None:
    """3 % of requests 4x slower, 460 requests per run (each run's p99 is a p99 claim): p99 comes out slower in
    most trials and never faster; the median barely moves."""
    params = PARAMS.model_copy(update={"calibration": PARAMS.calibration.model_copy(
        update={"requests_per_run": 460})})
    result = run_case(CASES["tail-regression"], params, BLOCKS, TRIALS, seed=14, run_cv=0.05)
    assert result.verdicts["p99"].get("slower", 0.0) >= 0.7 and "faster" not in result.verdicts["p99"]
    assert result.verdicts["p50"].get("inconclusive", 0.0) >= 0.85


def test_paired_ratio_is_the_geometric_mean_of_block_ratios_with_a_t_interval() -> None:
    ratio = paired_ratio([100.0, 200.0, 400.0], [50.0, 100.0, 200.0])
    # every block agrees: the interval is the point (up to rounding) and the change certain
    assert (ratio.estimate, ratio.low, ratio.high) == pytest.approx((0.5, 0.5, 0.5)) and ratio.p_value < 1e-6
    noisy = paired_ratio([100.0, 100.0, 100.0, 100.0], [40.0, 60.0, 50.0, 50.0])
    logs = np.log([0.4, 0.6, 0.5, 0.5])
    half = 3.182446 * logs.std(ddof=1) / 2  # t(0.975, 3)
    assert noisy.estimate == pytest.approx(np.exp(logs.mean()))
    assert (noisy.low, noisy.high) == pytest.approx((np.exp(logs.mean() - half), np.exp(logs.mean() + half)))
    assert paired_difference([0.0, 0.0], [0.0, 0.0]) == PairedInterval(0.0, 0.0, 0.0, 1.0, 2)
    with pytest.raises(ValueError, match="at least 2 blocks"):
        paired_ratio([1.0], [2.0])


@pytest.mark.parametrize(("interval", "p", "kind", "direction", "expected"), [
    ((0.5, 0.4, 0.6), 0.001, "latency", "lower_is_better", "faster"),
    ((1.5, 1.3, 1.7), 0.001, "latency", "lower_is_better", "slower"),
    ((0.5, 0.4, 0.6), 0.2, "latency", "lower_is_better", "inconclusive"),  # Holm-adjusted p too large
    ((1.0, 0.97, 1.04), 0.8, "latency", "lower_is_better", "equivalent"),  # whole CI inside 1 +- 0.05
    ((1.0, 0.90, 1.04), 0.8, "latency", "lower_is_better", "inconclusive"),  # straddles the band's edge
    ((0.97, 0.96, 0.98), 0.001, "latency", "lower_is_better", "equivalent"),  # certain, but inside the band
    ((0.93, 0.92, 0.94), 0.001, "latency", "lower_is_better", "faster"),  # certain and beyond the band
    ((2.0, 1.5, 2.5), 0.0, "throughput", "higher_is_better", "higher"),
    ((0.6, 0.5, 0.7), 0.0, "throughput", "higher_is_better", "lower"),
])
def test_verdict_rules(interval: tuple[float, float, float], p: float, kind: str, direction: str,
                       expected: str) -> None:
    assert verdict(PairedInterval(*interval, p, 4), p, 0.05, (0.95, 1.05), kind, direction) == expected


def test_error_rate_verdicts_use_an_absolute_band() -> None:
    assert verdict(PairedInterval(0.1, 0.05, 0.15, 0.001, 4), 0.001, 0.05, (-0.01, 0.01), "errors") == "more"
    assert verdict(PairedInterval(0.0, -0.004, 0.006, 0.9, 4), 0.9, 0.05, (-0.01, 0.01), "errors") == "equivalent"


def test_holm_matches_a_hand_computed_case() -> None:
    # sorted p: 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 = 0.04, 0.06, 0.06 (monotone), 0.06 (monotone)
    assert holm([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_tail_claims_need_loadgens_request_counts_and_bound_the_true_quantile() -> None:
    assert (min_requests(0.99), min_requests(0.95), min_requests(0.5)) == (459, 90, 7)
    rng = np.random.default_rng(5)
    assert quantile_interval(rng.lognormal(0, 0.5, 300), 0.99) is None  # no finite upper end below 367
    truth = float(np.exp(0.5 * 2.326348))
    covered = sum(bool((q := quantile_interval(rng.lognormal(0, 0.5, 459), 0.99)) and q.low <= truth <= q.high)
                  for _ in range(300))
    assert covered >= 0.93 * 300


def arms_of(rng: np.random.Generator, blocks: int = 4, requests: int = 120) -> dict[str, ArmRuns]:
    arms = synthetic_arms(CASES["identical"], rng, blocks, requests, 0.05, 0.6)
    return {"baseline": arms["reference"], "optimized": arms["candidate"]}


def compared(arms: dict[str, ArmRuns]):
    result = compare_arms(arms, "baseline", "optimized", PARAMS)
    add_verdicts([result], PARAMS)
    return result


def test_a_run_with_no_ok_request_is_counted_not_a_crash() -> None:
    arms = arms_of(np.random.default_rng(6))
    dead = arms["optimized"].runs[2]
    arms["optimized"].runs[2] = synthetic_run(2, dead.latencies_ms, np.ones(len(dead.latencies_ms), bool))
    result = compared(arms)
    assert result.comparable and result.throughput is not None and result.error_rate is not None
    assert result.throughput.verdict == "not comparable: a run of optimized served no request"
    assert result.error_rate.candidate == pytest.approx(0.25) and result.latency is not None
    assert all(stat.verdict != "faster" for stat in result.latency.values())


def test_an_invalid_run_drops_its_block_and_says_so() -> None:
    arms = arms_of(np.random.default_rng(7))
    del arms["baseline"].runs[1]
    arms["baseline"].excluded.append(ExcludedRun(path="baseline/run-1", reasons=["send lag p99 9 ms > bound"]))
    result = compared(arms)
    assert result.comparable and result.blocks == [0, 2, 3] and result.unpaired_blocks == {"optimized": [1]}
    assert result.requests_used == {"baseline": 360, "optimized": 360}
    assert result.latency is not None
    assert result.latency["p99"].verdict == "too few requests: p99 needs >= 459 measured requests per arm, have 360"
    assert result.latency["p50"].ratio is not None


def test_a_service_without_valid_runs_is_not_comparable() -> None:
    arms = arms_of(np.random.default_rng(8))
    arms["optimized"] = ArmRuns(excluded=[ExcludedRun(path="optimized/run-0", reasons=["stalled"])])
    result = compared(arms)
    assert not result.comparable and result.latency is None
    assert result.reason == "not comparable: no valid run of optimized; a paired comparison needs at least 2"
    one_block = arms_of(np.random.default_rng(9), blocks=1)
    assert compared(one_block).reason == ("not comparable: 1 block(s) with a valid run of both arms; a paired "
                                          "comparison needs at least 2")


def test_a_higher_throughput_is_called_higher() -> None:
    arms = arms_of(np.random.default_rng(10))
    for block, run in arms["optimized"].runs.items():
        faster = run.throughput_ok_per_s * (2 + block / 10)
        arms["optimized"].runs[block] = type(run)(block, run.latencies_ms, 0, faster, run.outcomes)
    result = compared(arms)
    assert result.throughput is not None and result.throughput.verdict == "higher"
    assert result.throughput.ratio is not None and 2.0 < result.throughput.ratio.estimate < 2.3


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
