"""One generator pod of a cluster load test: ``python -m stages.cluster.pod`` (the Indexed Job's command).

Pod k (``JOB_COMPLETION_INDEX``) draws the run's one seeded schedule, sends every n-th request from k, starting at
the wall-clock instant the runner handed to every pod, and prints its records, its own summary and audit, and its
clock readings to its log (:mod:`stages.cluster.shard_log`). Pod 0 first sends the warm-up requests. The request
bodies (and the warm-up's texts) come from the run's ConfigMap, encoded by the runner exactly as a local run encodes
them, so a pod needs neither the dataset nor params.yaml. It imports only the load generator: the image holds
nothing else.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stages.cluster.shard_log import ShardResult, encode
from stages.common.cli import configure_logging
from stages.loadgen.arrivals import draw_schedule
from stages.loadgen.client import SendOptions, run_open_loop
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.run import client_config, scenario_summary, warm_up
from stages.params.loadgen import LoadgenParams, ScenarioParams

logger = logging.getLogger(__name__)

RUN_FILE, BODIES_FILE, WARMUP_FILE = "run.json", "bodies.jsonl.gz", "warmup.json"
RUN_DIR_ENV, URL_ENV, INDEX_ENV = "SERVEBENCH_RUN_DIR", "SERVEBENCH_URL", "JOB_COMPLETION_INDEX"


class GeneratorRun(BaseModel):
    """What every pod of one run is handed (the ConfigMap's ``run.json``): the scenario with its rate resolved,
    the audit's bounds, the number of shards and the common start instant (unix time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str
    settings: ScenarioParams
    loadgen: LoadgenParams
    shards: int
    start_at: float


def pack_bodies(bodies: list[bytes]) -> bytes:
    """One JSON body per line (JSON escapes newlines), gzipped: a ConfigMap holds at most 1 MiB."""
    return gzip.compress(b"\n".join(bodies), mtime=0)


def unpack_bodies(packed: bytes) -> list[bytes]:
    raw = gzip.decompress(packed)
    return raw.split(b"\n") if raw else []


def main() -> None:
    configure_logging()
    started = time.time()
    run_dir, url, index = Path(os.environ[RUN_DIR_ENV]), os.environ[URL_ENV], int(os.environ[INDEX_ENV])
    run = GeneratorRun.model_validate_json((run_dir / RUN_FILE).read_text())
    if index == 0:
        texts = json.loads((run_dir / WARMUP_FILE).read_text())
        warm_up(url, texts, len(texts), run.settings.timeout_s)
    ready = time.time()
    schedule = draw_schedule(arrival_spec(run.settings))
    logger.info(f"pod {index}/{run.shards}: {len(schedule[index::run.shards])} requests from "
                f"{run.start_at - ready:+.1f} s -> {url}")
    records, usage = run_open_loop(url, schedule, unpack_bodies((run_dir / BODIES_FILE).read_bytes()),
                                   client_config(run.settings, run.loadgen.client), run.settings.warmup_s,
                                   SendOptions((index, run.shards), run.start_at))
    summary = scenario_summary(records, usage, run.scenario, run.settings, run.loadgen, run.shards)
    # The pod's clock against the instant it was handed: a pod ready after it sends its first requests late,
    # which its audit (and the merged run's) shows as send lag.
    clock = {"index": index, "pod": os.environ.get("POD_NAME", socket.gethostname()),
             "node": os.environ.get("NODE_NAME"), "started_unix": started, "ready_unix": ready,
             "start_at_unix": run.start_at, "lead_s": run.start_at - ready}
    print("\n".join(encode(ShardResult(records, summary, clock))), flush=True)


if __name__ == "__main__":
    main()
