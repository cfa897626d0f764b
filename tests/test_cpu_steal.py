"""The hypervisor's steal, read from /proc/stat files and from this machine's own, recorded with every run."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.common.cpu_steal import (
    PROC_STAT,
    STARVED_SHARE,
    CpuTicks,
    StealMeter,
    read_ticks,
    stolen_note,
    stolen_share,
    stolen_summary,
)
from stages.loadgen.arrivals import ArrivalSpec, draw_schedule
from stages.loadgen.client import ClientConfig, SendOptions, run_open_loop
from stages.loadgen.run import one_line
from stages.loadgen.summary import summarize
from stages.params.loadgen import LoadgenParams

# user nice system idle iowait irq softirq steal guest guest_nice
BOOT = "cpu  1000 10 200 5000 30 0 40 150 0 0\ncpu0 500 5 100 2500 15 0 20 75 0 0\n"
LATER = "cpu  1500 10 300 5600 30 0 50 290 0 0\ncpu0 750 5 150 2800 15 0 25 145 0 0\n"


def stat_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stat"
    path.write_text(text)
    return path


def test_the_aggregate_line_is_read_as_demand_and_steal(tmp_path: Path) -> None:
    assert read_ticks(stat_file(tmp_path, BOOT)) == CpuTicks(demand=1000 + 10 + 200 + 0 + 40 + 150, steal=150)


@pytest.mark.parametrize("text", ["", "cpu  1 2 3 4 5 6 7\n", "intr 1 2 3 4 5 6 7 8 9\n"])
def test_a_file_without_a_steal_column_reads_as_not_measured(tmp_path: Path, text: str) -> None:
    assert read_ticks(stat_file(tmp_path, text)) is None
    assert read_ticks(tmp_path / "absent") is None


def test_the_share_is_stolen_ticks_over_the_ticks_asked_for(tmp_path: Path) -> None:
    before, after = read_ticks(stat_file(tmp_path, BOOT)), read_ticks(stat_file(tmp_path, LATER))
    # demand grew 500 + 100 + 10 + 140 = 750 ticks, of which 140 stolen; idle time does not count
    assert stolen_share(before, after) == pytest.approx(140 / 750)
    assert stolen_share(after, after) is None and stolen_share(None, after) is None


def test_the_meter_measures_what_happened_inside_its_block(tmp_path: Path) -> None:
    path = stat_file(tmp_path, BOOT)
    with StealMeter(path) as meter:
        path.write_text(LATER)
    assert meter.share == pytest.approx(140 / 750)


def test_runs_are_summarised_and_a_starved_machine_is_flagged() -> None:
    assert stolen_summary([None, None]) is None
    calm = stolen_summary([0.01, 0.03, None, 0.02])
    assert calm is not None and calm.startswith("2% median (1%-3%) over 3 runs") and "starved" not in calm
    starved = stolen_summary([STARVED_SHARE, 0.3, 0.05])
    assert starved is not None and "starved machine" in starved
    assert stolen_note(0.005) == "" and stolen_note(None) == "" and stolen_note(0.23) == ", 23% of the CPU stolen"


@pytest.mark.skipif(read_ticks(PROC_STAT) is None, reason="no /proc/stat steal column here")
def test_a_real_run_records_the_machine_share_stolen_while_it_sent(null_server: str) -> None:
    spec = ArrivalSpec("exponential", rate=200.0, duration_s=1.0, seed=3)
    schedule = draw_schedule(spec)
    records, usage = run_open_loop(f"{null_server}/ok", schedule, [b'{"texts": ["x"]}'] * len(schedule),
                                   ClientConfig(), 0.1, SendOptions(progress_every_s=None))
    summary = summarize(records, spec, LoadgenParams(), usage)
    assert usage.stolen is not None and 0.0 <= usage.stolen <= 1.0
    assert summary.audit.generator_cpu.stolen == usage.stolen
    assert ("of the CPU stolen" in one_line("t", summary)) == (usage.stolen >= 0.02)
