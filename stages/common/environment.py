"""The environment fingerprint recorded with every result: what ran, on what, with which libraries."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

# The CPU flags that decide how fast INT8 and FP16 inference runs on a CPU.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
             "amx_int8", "amx_bf16")
LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "onnxconverter-common", "bentoml", "aiohttp", "numpy",
             "scipy", "pandas", "dvc", "pydantic")


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.is_file() else ""


def cpu_model() -> str:
    return next((line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines()
                 if line.startswith("model name")), platform.processor() or "unknown")


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
    """CPU model and ISA flags, cores and this process's affinity, Python and library versions, git revision,
    and the date (figures move between days on a shared machine)."""
    return {
        "measured_on": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "git_revision": git_revision(),
        "params_sha256": file_hash(params_file) if params_file else None,
    }
