"""The terminal view of experiments: every line within 120 columns, what changed under each experiment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stages.reporting.view import differing_params, render

REPO_ROOT = Path(__file__).resolve().parent.parent


def row(name: str, **values: object) -> dict[str, Any]:
    base = {"Experiment": name, "rev": name, "typ": "branch_commit", "State": "Success", "p50x.steady": 0.217,
            "p50.steady": "faster", "tailx.steady": 0.172, "tail.steady": "faster", "p50x.high-intensity": 0.007,
            "p50.high-intensity": "overloaded", "tailx.high-intensity": None, "tail.high-intensity": "inconclusive",
            "cap.base": 8.24, "cap.opt": 35.6, "cap.x": 4.32, "acc.base": 0.333, "acc.opt": 0.347,
            "opt.recovery_s": 6.0, "serve.optimized.batching.max_batch_size": 16, "loadtest.seed": 0}
    return base | values


def test_the_view_fits_120_columns_and_names_the_changed_knobs() -> None:
    rows = [row("workspace", typ="baseline", rev="workspace"),
            row("a-rather-long-experiment-name-indeed", **{"serve.optimized.batching.max_batch_size": 64,
                                                            "p50x.steady": 1.31, "p50.steady": "slower"})]
    assert differing_params(rows) == ["serve.optimized.batching.max_batch_size"]
    lines = render(rows)
    assert all(len(line) <= 120 for line in lines)
    assert any("1.31S" in line for line in lines) and any("0.22F" in line for line in lines)
    assert any(line.strip() == "serve.optimized.batching.max_batch_size=64" for line in lines)
    assert "0.01O ?" in lines[3]  # no tail ratio claimed: only its verdict


@pytest.mark.integration
def test_the_view_of_this_repository_runs_through_dvc() -> None:
    result = subprocess.run([sys.executable, "-m", "stages.reporting.view"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(len(line) <= 120 for line in lines)
    assert any(line.startswith("workspace") for line in lines)
