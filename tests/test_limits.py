"""The limits stage's reading of single requests after saturation: when are they fast again?"""

from __future__ import annotations

import pandas as pd
import pytest

from stages.limits import BACK_RUN, back_to_low_load_s


def block(service_ms: list[float], outcomes: list[str] | None = None) -> pd.DataFrame:
    """One request at a time, each answered 0.1 s after the previous one."""
    return pd.DataFrame({"service_ms": service_ms, "outcome": outcomes or ["ok"] * len(service_ms),
                         "done_s": [0.1 * (k + 1) for k in range(len(service_ms))]})


def test_back_at_once_when_the_first_requests_are_fast() -> None:
    assert back_to_low_load_s(block([12.0] * 8), 0.05, 10.0) == pytest.approx(0.15)


def test_back_only_after_a_run_of_fast_requests() -> None:
    # slow, slow, one fast one that does not last, then a run: the run's first answer counts
    latencies = [400.0, 380.0, 15.0, 390.0, *[11.0] * BACK_RUN]
    assert back_to_low_load_s(block(latencies), 0.0, 10.0) == pytest.approx(0.5)


def test_a_failed_request_breaks_the_run() -> None:
    latencies = [10.0] * (BACK_RUN + 2)
    outcomes = ["ok", "error", *["ok"] * BACK_RUN]
    assert back_to_low_load_s(block(latencies, outcomes), 0.0, 10.0) == pytest.approx(0.3)


def test_never_back_is_none() -> None:
    assert back_to_low_load_s(block([25.0] * 10), 0.0, 10.0) is None
    assert back_to_low_load_s(block([10.0] * (BACK_RUN - 1)), 0.0, 10.0) is None
