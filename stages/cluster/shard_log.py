"""A generator pod's results, carried back in its log.

Why the log: every cluster has it (``kubectl logs``, the ``pods/log`` permission the runner already needs), the
pod keeps a read-only root filesystem and mounts nothing writable that outlives it, and no object store or
ReadWriteMany volume has to exist. A run's records are small (a parquet file of tens of KB per thousand requests),
far below the kubelet's log rotation size (10 MiB by default). The pod prints its records (parquet), summary and
clock readings as base64 lines under a marker, with a SHA-256 of the whole: the collector reassembles them and
rejects a truncated or interleaved copy instead of reading part of a shard.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from stages.records.load import LoadSummary

MARKER = "servebench-shard"
CHUNK = 3000  # base64 characters per line: below containerd's 16 KiB split of long lines


@dataclass(frozen=True)
class ShardResult:
    """What one generator pod sent back: its records, its own summary and audit, and its clock readings."""

    records: pd.DataFrame
    summary: LoadSummary
    clock: dict[str, Any]


def encode(result: ShardResult) -> list[str]:
    """The log lines that carry ``result``: ``MARKER begin <sha256> <lines>``, the chunks, ``MARKER end``."""
    parquet = io.BytesIO()
    result.records.to_parquet(parquet, index=False)
    payload = json.dumps({"records": base64.b64encode(parquet.getvalue()).decode(),
                          "summary": result.summary.model_dump(mode="json"), "clock": result.clock})
    blob = base64.b64encode(payload.encode()).decode()
    chunks = [blob[start:start + CHUNK] for start in range(0, len(blob), CHUNK)]
    digest = hashlib.sha256(blob.encode()).hexdigest()
    return [f"{MARKER} begin {digest} {len(chunks)}", *(f"{MARKER} {chunk}" for chunk in chunks), f"{MARKER} end"]


class ShardLogError(ValueError):
    """The log holds no complete, intact shard result."""


def decode(log: str) -> ShardResult:
    """The shard result in a pod's log; :class:`ShardLogError` says why there is none."""
    lines = [line.strip() for line in log.splitlines() if line.startswith(MARKER)]
    begins = [k for k, line in enumerate(lines) if line.startswith(f"{MARKER} begin ")]
    if not begins:
        raise ShardLogError("no records in the log (the pod ended before sending them back)")
    _, _, digest, count = lines[begins[-1]].split()
    chunks = lines[begins[-1] + 1:begins[-1] + 1 + int(count)]
    if len(chunks) != int(count) or lines[begins[-1] + 1 + int(count):][:1] != [f"{MARKER} end"]:
        raise ShardLogError(f"the records are truncated: {len(chunks)} of {count} chunks")
    blob = "".join(chunk.split(" ", 1)[1] for chunk in chunks)
    if hashlib.sha256(blob.encode()).hexdigest() != digest:
        raise ShardLogError("the records' checksum does not match (a damaged log)")
    payload = json.loads(base64.b64decode(blob))
    records = pd.read_parquet(io.BytesIO(base64.b64decode(payload["records"])))
    return ShardResult(records, LoadSummary.model_validate(payload["summary"]), payload["clock"])
