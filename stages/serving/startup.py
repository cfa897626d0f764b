"""A cold start taken apart: from ``bentoml serve`` to the first 200 of ``/readyz``, where the seconds went.

The served worker logs its own instants (``service/startup.py``: process created, imports done, service
constructed, model loaded, warmed up); :class:`stages.serving.server.BentoServer` records when it launched the
CLI and when ``/readyz`` first answered. The phases between them add up to the cold start.
"""

from __future__ import annotations

import json

from stages.common.artifacts import STARTUP_MARK

PHASES = (  # (name, from instant, to instant): consecutive, so they add up to launched -> ready
    ("cli_and_spawn_s", "launched", "process_created"),  # bentoml CLI, its own import of the service, spawning
    ("worker_imports_s", "process_created", "imported"),  # Python, BentoML and this service's imports
    ("runtime_setup_s", "imported", "init"),  # BentoML's worker set-up until the service class is built
    ("model_load_s", "init", "loaded"),  # tokenizer and inference session
    ("warmup_s", "loaded", "warmed"),  # the first inference
    ("until_ready_s", "warmed", "ready"),  # the server's readiness and the launcher's polling (50 ms)
)


def worker_instants(log_text: str) -> list[dict[str, float]]:
    """Every worker's logged instants, in log order."""
    return [json.loads(line.split(STARTUP_MARK, 1)[1]) for line in log_text.splitlines() if STARTUP_MARK in line]


def breakdown(log_text: str, launched: float, ready: float) -> dict[str, float] | None:
    """Seconds per phase of the first worker to warm up (the one that made ``/readyz`` answer); None when no
    worker logged its start-up (a Bento built before this measurement)."""
    workers = [w for w in worker_instants(log_text) if launched <= w["process_created"] and w["warmed"] <= ready]
    if not workers:
        return None
    instants = min(workers, key=lambda w: w["warmed"]) | {"launched": launched, "ready": ready}
    return {name: round(instants[end] - instants[start], 3) for name, start, end in PHASES}
