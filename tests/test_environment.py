"""The machine speed fingerprint recorded with every load test (stages/common/environment.py)."""

from __future__ import annotations

import pytest

from stages.common.environment import REFERENCE_SPEED, fingerprint, slowdown


def test_the_speed_fingerprint_says_how_much_slower_than_the_reference_machine() -> None:
    measured = fingerprint()["speed"]
    assert measured["python_loop_ms"] > 0 and measured["matmul_gflops"] > 0
    slower = {"python_loop_ms": 2.5 * REFERENCE_SPEED["python_loop_ms"],
              "matmul_gflops": REFERENCE_SPEED["matmul_gflops"] / 2.5}
    assert slowdown(slower) == pytest.approx({"python_loop_ms": 2.5, "matmul_gflops": 2.5})
