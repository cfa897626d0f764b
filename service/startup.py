"""Where a worker's start-up seconds go: one log line per worker, read back by the limits stage.

The worker knows when its process was created (psutil), when this service's imports finished, and when the model
was loaded and warmed up; the launcher knows the rest (:mod:`stages.serving.startup`). Wall-clock (unix) times,
so that both sides line up.
"""

from __future__ import annotations

import json
import sys

import psutil

from stages.common.artifacts import STARTUP_MARK


def report(imported_at: float, init_at: float, loaded_at: float, warmed_at: float) -> None:
    """Print this worker's start-up instants (unix seconds) on one line of the server log."""
    times = {"process_created": psutil.Process().create_time(), "imported": imported_at, "init": init_at,
             "loaded": loaded_at, "warmed": warmed_at}
    print(f"{STARTUP_MARK} {json.dumps(times)}", file=sys.stderr, flush=True)
