"""Running stage entry points as real subprocesses, the way DVC runs them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from stages.common.io import write_result
from stages.model.validation import ValidateSettings, validate_variants
from stages.params.base import parse_params

REPO_ROOT = Path(__file__).resolve().parent.parent
# Serving settings of the tiny stand-in Bentos the tests build: one thread, small requests, batching on.
SERVE = {
    "baseline": {"variant": "pytorch-fp32", "threads": 1, "max_texts": 8, "max_text_chars": 200},
    "optimized": {
        "variant": "onnx-fp32", "threads": 1, "max_texts": 8, "max_text_chars": 200,
        "batching": {"enabled": True, "max_batch_size": 8, "max_latency_ms": 500},
    },
}


def repo_files() -> list[str]:
    """Tracked files plus untracked ones that git does not ignore: what a commit of the work tree would hold."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return [name for name in listed if (REPO_ROOT / name).is_file()]


def copy_repo(root: Path) -> Path:
    """The work tree's files in ``root`` as a fresh git repository of one commit (DVC wants an SCM)."""
    for name in repo_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, root / name)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def training_outputs(tmp_path: Path) -> list[str]:
    """The download stage's training-record options, pointed into ``tmp_path`` (out of the repo's results/)."""
    return ["--training", str(tmp_path / "training.json"), "--training-loss", str(tmp_path / "training_loss.csv")]


def system_tool_or_skip(missing: str | None, required_by: str) -> None:
    """Skip a test whose Debian tool is ``missing`` (the reason, or None when present), unless the environment
    variable ``required_by`` is set, as CI sets it after installing the tool: there a missing tool fails."""
    if missing is None:
        return
    if os.environ.get(required_by):
        pytest.fail(f"{required_by} is set and {missing}")
    pytest.skip(missing)


def write_params(path: Path, params: dict[str, Any]) -> Path:
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


async def post_many(url: str, bodies: list[bytes]) -> list[tuple[int, str]]:
    """POST every body to ``url``/classify at once; (status, text) of each answer."""
    async with aiohttp.ClientSession() as session:
        async def one(body: bytes) -> tuple[int, str]:
            async with session.post(f"{url}/classify", data=body,
                                    headers={"Content-Type": "application/json"}) as response:
                return response.status, await response.text()

        return await asyncio.gather(*(one(body) for body in bodies))


def classify(url: str, texts: list[str]) -> list[dict[str, Any]]:
    """One /classify request for ``texts``; its parsed answer (a 200 is asserted)."""
    [(status, text)] = asyncio.run(post_many(url, [json.dumps({"texts": texts}).encode()]))
    assert status == 200, text
    answer: list[dict[str, Any]] = json.loads(text)
    return answer


def build_bentos(root: Path, model: Path, variants: Path, dataset: Path) -> dict[str, Any]:
    """Validate ``variants`` and build both Bentos with the real build stage, as the pipeline does."""
    raw = {"serve": {"max_request_bytes": 65536, **SERVE}, "runtime": {"threads": 1},
           "validate": {"latency": {"batch_sizes": [1], "warmup": 0, "repeats": 3}}}
    params_file = write_params(root / "params.yaml", raw)
    validation, _ = validate_variants(parse_params(ValidateSettings, raw), model, variants, dataset, root / "plots")
    write_result(root / "validation.json", validation)
    result = run_module(
        "stages.build", "--params", str(params_file), "--model", str(model), "--variants", str(variants),
        "--validation", str(root / "validation.json"), "--bentoml-home", str(root / "bentoml"),
        "--out", str(root / "bentos.json"),
    )
    assert result.returncode == 0, result.stderr
    return {"root": root, "home": root / "bentoml", "bentos": json.loads((root / "bentos.json").read_text())}
