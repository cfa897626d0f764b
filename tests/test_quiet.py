"""The quiet probe: a real loopback ping-pong between two processes, and the wait built on it."""

from __future__ import annotations

import pytest
from helpers import run_module

from stages.common import quiet
from stages.common.cpu_steal import PROC_STAT, read_ticks
from stages.common.quiet import QuietReading, ping_pong, wait_until_quiet


def test_a_ping_pong_measures_the_round_trips_beyond_their_work_and_the_stolen_share() -> None:
    reading = ping_pong(requests=40, gap_s=0.005, work_s=0.001)
    assert 0.0 <= reading.extra_p50_ms <= reading.extra_p99_ms < 1000.0
    if read_ticks(PROC_STAT) is not None:
        assert reading.stolen is not None and 0.0 <= reading.stolen <= 1.0


def test_quiet_means_at_most_the_bound_stolen_and_unmeasured_steal_never_blocks() -> None:
    assert QuietReading(0.05, 0.1, 0.5).quiet(0.1) and not QuietReading(0.3, 0.6, 7.0).quiet(0.1)
    assert QuietReading(None, 0.1, 0.5).quiet(0.0)
    assert "30% of the CPU stolen" in QuietReading(0.3, 0.6, 7.0).line()


def test_the_wait_returns_after_two_quiet_readings_in_a_row(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Real readings, 40 round trips each instead of the command's 300 (~7 s each on the 2-core VM)."""
    monkeypatch.setattr(quiet, "ping_pong", lambda: ping_pong(requests=40, gap_s=0.005, work_s=0.001))
    reading = wait_until_quiet(max_stolen=1.0, pause_s=0.0)
    assert reading.quiet(1.0)
    assert capsys.readouterr().err.count("quiet probe:") == 2


@pytest.mark.integration
def test_the_command_answers_with_its_exit_status() -> None:
    answer = run_module("stages.common.quiet", "--max-stolen", "1.0", timeout=120)
    assert answer.returncode == 0 and answer.stdout.startswith("quiet probe: round trip +"), answer.stderr
