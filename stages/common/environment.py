"""The environment fingerprint recorded with every result: what ran, on what, with which libraries."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

# The CPU flags that decide how fast INT8 and FP16 inference runs on a CPU.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
             "amx_int8", "amx_bf16")
LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "onnxconverter-common", "bentoml", "aiohttp", "numpy",
             "scipy", "pandas", "dvc", "pydantic")


# The speed fingerprint of the machine the README's committed results come from (the development VM, 2 Dec 2026),
# so that a report from another machine can say how much faster or slower it ran.
REFERENCE_SPEED = {"python_loop_ms": 79.0, "matmul_gflops": 190.0}
LOOP_ADDITIONS = 2_000_000
MATMUL_SIZE = 512


def python_loop_ms() -> float:
    """Best of 3 of a pure-Python loop of 2M additions: the interpreter's speed on one core, which bounds the
    server's event loop and the load generator."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for number in range(LOOP_ADDITIONS):
            total += number
        best = min(best, time.perf_counter() - started)
    return 1e3 * best


def matmul_gflops() -> float:
    """Best of 5 float32 512x512 matrix products through numpy's BLAS: the arithmetic inference runs on."""
    matrix = np.random.default_rng(0).standard_normal((MATMUL_SIZE, MATMUL_SIZE), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        matrix @ matrix
        best = min(best, time.perf_counter() - started)
    return 2 * MATMUL_SIZE**3 / best / 1e9


def speed() -> dict[str, float]:
    """A fixed CPU micro-benchmark (~0.3 s): figures from two machines can be set side by side only with it."""
    return {"python_loop_ms": round(python_loop_ms(), 2), "matmul_gflops": round(matmul_gflops(), 1)}


def slowdown(measured: dict[str, float]) -> dict[str, float]:
    """How many times slower than the reference machine (above 1: slower), per figure of :func:`speed`."""
    ratios = {}
    if measured.get("python_loop_ms"):
        ratios["python_loop_ms"] = measured["python_loop_ms"] / REFERENCE_SPEED["python_loop_ms"]
    if measured.get("matmul_gflops"):
        ratios["matmul_gflops"] = REFERENCE_SPEED["matmul_gflops"] / measured["matmul_gflops"]
    return ratios


def speed_summary(speeds: list[dict[str, float]]) -> str:
    """Several fingerprints (one per load test) as median and range, and the median's slowdown: their spread
    says how steady the machine was while it measured."""
    median = {key: float(np.median([speed[key] for speed in speeds])) for key in speeds[0]}
    ratios = slowdown(median)
    loops, flops = ([speed[key] for speed in speeds] for key in ("python_loop_ms", "matmul_gflops"))
    return (f"a pure-Python loop of 2M additions {median['python_loop_ms']:.0f} ms ({min(loops):.0f}-"
            f"{max(loops):.0f}), a float32 512x512 matmul {median['matmul_gflops']:.0f} GFLOP/s ({min(flops):.0f}-"
            f"{max(flops):.0f}); slowdown {ratios['python_loop_ms']:.2f}x and {ratios['matmul_gflops']:.2f}x against "
            "the reference machine of `stages/common/environment.py`")


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.is_file() else ""


def cpu_model() -> str:
    """/proc/cpuinfo's model name; elsewhere what ``platform`` says (it runs ``uname -p``: only then)."""
    named = next((line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines()
                  if line.startswith("model name")), None)
    return named or platform.processor() or "unknown"


def cpu_flags() -> dict[str, bool]:
    flags = set(next((line.split(":", 1)[1].split() for line in _cpuinfo().splitlines()
                      if line.startswith("flags")), []))
    return {flag: flag in flags for flag in ISA_FLAGS}


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(root: Path = Path()) -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def fingerprint(params_file: Path | None = None) -> dict:
    """CPU model and ISA flags, cores and this process's affinity, a speed micro-benchmark, Python and library
    versions, git revision, and the date (figures move between days on a shared machine)."""
    return {
        "measured_on": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "speed": speed(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "git_revision": git_revision(),
        "params_sha256": file_hash(params_file) if params_file else None,
    }
