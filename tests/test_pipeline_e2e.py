"""The real ``dvc repro`` of the model chain in a temporary copy of the repository, on the tiny stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_params

from stages.params import load_params

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def repo_files() -> list[str]:
    """Tracked files plus untracked ones that git does not ignore: what a commit of the work tree would hold."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (REPO_ROOT / name).is_file()]


def run(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


@pytest.fixture(scope="module")
def pipeline_copy(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("repo")
    for name in repo_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, root / name)
    params = load_params(REPO_ROOT / "params.yaml").model_dump(by_alias=True)
    params["model"] |= {"source": "standin", "standin": {"size": "tiny", "seed": 0, "logit_spread": 3.0}}
    params["data"] |= {"source": "local", "local_path": str(shared_data), "max_samples": 40, "corpus_size": 50}
    params["runtime"]["threads"] = 1
    params["validate"]["latency"] = {"batch_sizes": [1, 8], "warmup": 1, "repeats": 3}
    # The tiny stand-in's INT8 variant is too noisy to pass the gate: serve the FP32 export as "optimized".
    params["serve"]["optimized"] |= {"variant": "onnx-fp32", "threads": 1}
    params["serve"]["baseline"]["threads"] = 1
    params["limits"] = {"sequential_requests": 10, "saturation_seconds": 2.0, "saturation_concurrency": 8,
                        "warmup_requests": 2, "raw_repeats": 4, "rounds": 2}
    write_params(root / "params.yaml", params)
    for args in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
    ):
        run(args, root)
    return root


def test_repro_runs_every_stage_and_writes_validation(pipeline_copy: Path) -> None:
    output = run([sys.executable, "-m", "dvc", "repro"], pipeline_copy)
    assert stages_run(output) == {"download", "dataset", "export", "convert_fp16", "convert_int8", "validate",
                                  "build", "limits"}
    validation = json.loads((pipeline_copy / "results" / "validation.json").read_text())
    assert validation["standin"] is True and validation["examples"] == 40
    assert set(validation["variants"]) == {"pytorch-fp32", "onnx-fp32", "onnx-fp16", "onnx-int8"}
    for metrics in validation["variants"].values():
        assert {"accuracy", "f1_macro", "f1_weighted", "agreement", "max_abs_prob_diff", "size_mb", "passed"} <= set(
            metrics
        )
        assert set(metrics["latency_ms"]) == {"bs1", "bs8"} and metrics["latency_ms"]["bs8"]["p50"] > 0
    assert validation["variants"]["onnx-fp32"]["passed"] is True
    assert "Stand-in model" in (pipeline_copy / "results" / "validation.md").read_text()
    assert len((pipeline_copy / "results" / "confusion" / "onnx-int8.csv").read_text().splitlines()) == 41


def test_repro_builds_both_bentos_and_measures_their_limits(pipeline_copy: Path) -> None:
    bentos = json.loads((pipeline_copy / "results" / "bentos.json").read_text())
    assert {name: service["variant"] for name, service in bentos["services"].items()} == {
        "baseline": "pytorch-fp32", "optimized": "onnx-fp32"}
    assert (pipeline_copy / "bentoml" / "bentos" / "servebench-optimized").is_dir()
    limits = json.loads((pipeline_copy / "results" / "limits.json").read_text())
    for service in limits["services"].values():
        assert service["served"]["low_load_latency_ms"]["count"] == 10
        assert service["served"]["saturation"]["ok"] > 0 and service["served"]["saturation"]["errors"] == 0
        assert service["raw"]["bs1_latency_ms"]["count"] == 10 and len(service["rounds"]) == 2


def test_second_repro_reruns_nothing(pipeline_copy: Path) -> None:
    output = run([sys.executable, "-m", "dvc", "repro"], pipeline_copy)
    assert stages_run(output) == set()


def test_switching_off_int8_reruns_only_what_depends_on_it(pipeline_copy: Path) -> None:
    output = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "convert.int8.enabled=false"], pipeline_copy)
    assert stages_run(output) == {"convert_int8", "validate", "build", "limits"}
    validation = json.loads((pipeline_copy / "results" / "validation.json").read_text())
    assert "onnx-int8" not in validation["variants"]
    shown = run([sys.executable, "-m", "dvc", "exp", "show", "--json"], pipeline_copy)
    assert "f1_macro" in shown and "onnx-fp16" in shown
