"""The samples a comparison works on, read from the loadtest stage's files: per service, one array per valid run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.io import read_result
from stages.common.results import LoadSummary
from stages.loadgen.shards import RECORDS_FILE, SUMMARY_FILE


@dataclass
class ServiceRuns:
    """Latencies (ms, from the schedule, ok requests, warm-up excluded) and summaries of one service's runs."""

    latencies: list[np.ndarray] = field(default_factory=list)
    summaries: list[LoadSummary] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)  # invalid runs: path and reasons

    @property
    def throughputs(self) -> np.ndarray:
        return np.array([s.throughput_ok_per_s or 0.0 for s in self.summaries])


def read_scenario(folder: Path) -> dict[str, ServiceRuns]:
    """Every service's valid runs of one scenario; invalid runs are listed, not used."""
    index = json.loads((folder / "runs.json").read_text())
    services: dict[str, ServiceRuns] = {}
    for run in index["runs"]:
        runs = services.setdefault(run["service"], ServiceRuns())
        if not run["valid"]:
            runs.excluded.append({"path": run["path"], "reasons": run["reasons"]})
            continue
        records = pd.read_parquet(folder / run["path"] / RECORDS_FILE)
        measured = records[~records["warmup"] & (records["outcome"] == "ok")]
        runs.latencies.append(measured["latency_ms"].to_numpy())
        runs.summaries.append(read_result(folder / run["path"] / SUMMARY_FILE, LoadSummary))
    return services
