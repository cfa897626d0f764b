"""A request's latency split into where it went, from the client's stamps and the service's ``Server-Timing``
header (:mod:`stages.common.server_timing`).

Latency runs from the scheduled instant to the answer: ``send lag`` (scheduled to sent, the generator's), then
``outside the app`` (the client's send-to-answer time less the service's app time: the network, HTTP parsing and
BentoML's server around the app), ``app overhead`` (the app's time less the batcher's wait and the model call:
validation, serialisation, middleware), ``batch wait`` and ``compute``. The parts add up to the latency by
construction; what can fail is their sign: a server time longer than the client saw, or a wait and compute longer
than the app's time, would show a clock or an attribution that is wrong.
"""

from __future__ import annotations

import pandas as pd

PARTS = ("send_lag_ms", "outside_app_ms", "app_overhead_ms", "batch_wait_ms", "compute_ms")


def latency_parts(records: pd.DataFrame) -> pd.DataFrame:
    """Per ok, measured request that carried the header: its latency's parts (ms) and the latency itself; empty
    when no answer carried one (the header off, or records from before it)."""
    if "server_app_ms" not in records:
        return pd.DataFrame(columns=[*PARTS, "latency_ms"])
    rows = records[(records["outcome"] == "ok") & ~records["warmup"] & records["server_app_ms"].notna()]
    wait = rows["server_wait_ms"].fillna(0.0)
    compute = rows["server_compute_ms"].fillna(0.0)
    return pd.DataFrame({
        "send_lag_ms": rows["lag_ms"],
        "outside_app_ms": rows["service_ms"] - rows["server_app_ms"],
        "app_overhead_ms": rows["server_app_ms"] - wait - compute,
        "batch_wait_ms": wait,
        "compute_ms": compute,
        "latency_ms": rows["latency_ms"],
    }).reset_index(drop=True)
