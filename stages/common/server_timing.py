"""The ``Server-Timing`` header the service adds to its answers (W3C Server Timing), written by the service and
read by both load-generator clients: one definition of its metric names and format on both sides.

``app``: from the request reaching the service's ASGI app to its response starting; ``wait``: time the request's
texts waited in BentoML's adaptive-batching dispatcher before their batch ran; ``compute``: the model call that
served it (its whole batch's). With the client's own stamps, a request's latency splits into the generator's send
lag, the path outside the app (network, HTTP parsing, BentoML's server), the app's own overhead (validation,
serialisation, middleware), the batcher's wait and compute (:func:`latency_parts`).
"""

from __future__ import annotations

import re

HEADER = "Server-Timing"
METRICS = ("app", "wait", "compute")
_ENTRY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*((?:;[^,]*)?)")
_DURATION = re.compile(r";\s*dur\s*=\s*\"?([0-9.eE+-]+)\"?")
_DESCRIPTION = re.compile(r";\s*desc\s*=\s*\"?([^\";]*)\"?")


def format_timing(durations_ms: dict[str, float], batch: int | None = None) -> str:
    """``app;dur=1.234, wait;dur=0.100, compute;dur=0.800, batch;desc="4"`` (durations in ms, 3 decimals)."""
    parts = [f"{name};dur={durations_ms[name]:.3f}" for name in METRICS if name in durations_ms]
    return ", ".join(parts + ([f'batch;desc="{batch}"'] if batch is not None else []))


def parse_timing(value: str) -> dict[str, float]:
    """The header's durations (ms) by metric name, and ``batch`` (the batch size) where it is given; entries
    without a number are skipped, an empty or malformed header gives what could be read."""
    found: dict[str, float] = {}
    for entry in value.split(","):
        match = _ENTRY.match(entry)
        if match is None or not match.group(1):
            continue
        name, params = match.group(1), match.group(2)
        number = _DURATION.search(params) or (_DESCRIPTION.search(params) if name == "batch" else None)
        try:
            if number is not None:
                found[name] = float(number.group(1))
        except ValueError:
            continue
    return found
