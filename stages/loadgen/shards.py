"""Several generator processes on one schedule: each sends every n-th request from a common start instant.

The shards are this package's own CLI run as child processes; their records merge back into one run with
:func:`merge_runs`, a pure function, so one run's accounting (one record per scheduled request) holds whatever
the number of processes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from stages.common.artifacts import CAPACITY_JSON, RECORDS_FILE, SUMMARY_FILE
from stages.common.errors import ServebenchError
from stages.common.io import read_result
from stages.loadgen.client import GeneratorUsage
from stages.records.load import LoadSummary

SHARD_START_LEAD_S = 2.0  # time for shard processes to import (pandas, scipy) and connect first


def merge_runs(frames: list[pd.DataFrame], usages: list[GeneratorUsage]) -> tuple[pd.DataFrame, GeneratorUsage]:
    """One run from its shards: records in schedule order; the busiest process's CPU, the least idle wait, the
    most CPU stolen."""
    if not frames:
        raise ValueError("merge_runs needs at least one shard")
    merged = pd.concat(frames).sort_values("index", kind="stable").reset_index(drop=True)
    if merged["index"].duplicated().any():
        raise ValueError("shards overlap: a scheduled request appears in more than one shard")
    waits = [usage.idle_wait for usage in usages if usage.idle_wait is not None]
    stolen = [usage.stolen for usage in usages if usage.stolen is not None]
    return merged, GeneratorUsage(max(usage.cpu for usage in usages), min(waits) if waits else None,
                                  max(stolen) if stolen else None)


def run_shards(url: str, scenario: str, params: Path, corpus: Path, out: Path, processes: int,
               capacity: Path = CAPACITY_JSON) -> tuple[pd.DataFrame, GeneratorUsage]:
    """Start ``processes`` copies of ``python -m stages.loadgen`` on one schedule and merge their records (each
    resolves a rate relative to capacity from the same ``capacity`` file)."""
    start_at = time.time() + SHARD_START_LEAD_S
    shard_dirs = [out / f"shard-{k}" for k in range(processes)]
    base = [sys.executable, "-m", "stages.loadgen", "--url", url, "--scenario", scenario, "--params", str(params),
            "--corpus", str(corpus), "--capacity", str(capacity), "--start-at", repr(start_at)]
    children = [subprocess.Popen([*base, "--shard", f"{k}/{processes}", "--out", str(shard_dirs[k])])
                for k in range(processes)]
    if any(child.wait() != 0 for child in children):
        raise ServebenchError("a generator shard failed; see its output above")
    frames = [pd.read_parquet(d / RECORDS_FILE) for d in shard_dirs]
    summaries = [read_result(d / SUMMARY_FILE, LoadSummary).audit.generator_cpu for d in shard_dirs]
    return merge_runs(frames, [GeneratorUsage(cpu.cpu, cpu.idle_wait, cpu.stolen) for cpu in summaries])
