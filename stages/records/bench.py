"""``results/loadgen_bench.json``: the load generator's own benchmark (``make bench``)."""

from __future__ import annotations

from typing import Any

from stages.records.base import RecordFile


class LoadgenBench(RecordFile):
    """Each client's ceiling (the highest rate whose run passes the audit, one process and two), how the two
    clients agree on one schedule, and the closed-loop tools (wrk, hey, Locust) on the same null server. The
    per-rate tables stay free-form: they are what the bench printed, read by people, not by a stage."""

    cpu_model: str
    generator_core: int
    server_core: int
    server: str
    seconds_per_run: float
    audit_bounds: dict[str, Any]
    clients: dict[str, dict[str, Any]]
    ceiling_2_processes_lean: dict[str, Any]
    client_agreement: dict[str, Any]
    closed_loop_tools: list[dict[str, Any]]
    ratio_to_locust: dict[str, float]
