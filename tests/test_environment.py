"""The machine speed fingerprint recorded with every load test (stages/common/environment.py)."""

from __future__ import annotations

import pytest

from stages.common.environment import REFERENCE_SPEED, fingerprint, slowdown, speed_summary


@pytest.mark.integration  # the fingerprint asks git for the revision
def test_the_speed_fingerprint_says_how_much_slower_than_the_reference_machine() -> None:
    measured = fingerprint()["speed"]
    assert measured["python_loop_ms"] > 0 and measured["matmul_gflops"] > 0
    slower = {"python_loop_ms": 2.5 * REFERENCE_SPEED["python_loop_ms"],
              "matmul_gflops": REFERENCE_SPEED["matmul_gflops"] / 2.5}
    assert slowdown(slower) == pytest.approx({"python_loop_ms": 2.5, "matmul_gflops": 2.5})


def test_several_fingerprints_read_as_median_range_and_the_median_slowdown() -> None:
    """Three load tests' fingerprints on a machine that slowed down during the run: the summary names all three
    through their range, and the slowdown is the median's, not the first test's."""
    loop, flops = REFERENCE_SPEED["python_loop_ms"], REFERENCE_SPEED["matmul_gflops"]
    speeds = [{"python_loop_ms": loop, "matmul_gflops": flops},
              {"python_loop_ms": 2 * loop, "matmul_gflops": flops / 2},
              {"python_loop_ms": 3 * loop, "matmul_gflops": flops / 4}]
    summary = speed_summary(speeds)
    assert f"{2 * loop:.0f} ms ({loop:.0f}-{3 * loop:.0f})" in summary
    assert f"{flops / 2:.0f} GFLOP/s ({flops / 4:.0f}-{flops:.0f})" in summary
    assert "slowdown 2.00x and 2.00x" in summary
