"""Running stage entry points as real subprocesses, the way DVC runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

# Serving settings of the tiny stand-in Bentos the tests build: one thread, small requests, batching on.
SERVE = {
    "baseline": {"variant": "pytorch-fp32", "threads": 1, "max_texts": 8, "max_text_chars": 200},
    "optimized": {
        "variant": "onnx-fp32", "threads": 1, "max_texts": 8, "max_text_chars": 200,
        "batching": {"enabled": True, "max_batch_size": 8, "max_latency_ms": 500},
    },
}


def write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params))
    return path


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` with extra environment variables; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
