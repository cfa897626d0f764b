"""The download stage through the real huggingface_hub code path, against a cache laid out by the test."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from helpers import run_module, training_outputs, write_params

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO_ID = "servebench-test/tiny-sentiment"


def lay_out_hub_cache(cache: Path, repo_type: str, repo_id: str, files: dict[str, Path]) -> Path:
    """The Hub cache layout: ``<type>s--<org>--<name>/snapshots/<commit>/…`` and ``refs/main``."""
    repo_dir = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / COMMIT
    for name, source in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, snapshot / name)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    return snapshot


def model_params(tmp_path: Path, revision: str) -> Path:
    return write_params(tmp_path / "params.yaml", {"model": {"source": "hub", "id": REPO_ID, "revision": revision}})


@pytest.mark.e2e  # the download stage run whole, as a user runs it offline
@pytest.mark.parametrize("revision", [COMMIT, "main"])
def test_hub_model_resolves_from_local_cache_offline(tmp_path: Path, tiny_model: Path, revision: str) -> None:
    cache = tmp_path / "hub"
    lay_out_hub_cache(cache, "model", REPO_ID, {p.name: p for p in tiny_model.iterdir()})
    out = tmp_path / "model"
    result = run_module(
        "stages.download",
        *training_outputs(tmp_path),
        "--params",
        str(model_params(tmp_path, revision)),
        "--out",
        str(out),
        env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "model_info.json").read_text())
    assert info == {
        "format_version": 1,
        "source": "hub",
        "standin": False,
        "id": REPO_ID,
        "revision": revision,
        "commit": COMMIT,
        "labels": ["negative", "neutral", "positive"],
    }
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


@pytest.mark.e2e  # the download stage run whole
def test_absent_model_offline_fails_clearly(tmp_path: Path) -> None:
    result = run_module(
        "stages.download",
        *training_outputs(tmp_path),
        "--params",
        str(model_params(tmp_path, COMMIT)),
        "--out",
        str(tmp_path / "model"),
        env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot fetch model '{REPO_ID}' at revision '{COMMIT}': HF_HUB_OFFLINE=1 is set" in result.stderr
    for option in ("make repro-offline", "model.source=finetune", "model.source=standin", "model.source=local"):
        assert option in result.stderr


@pytest.mark.e2e  # the download stage run whole
def test_unreachable_hub_fails_fast_without_retries(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_module(
        "stages.download",
        *training_outputs(tmp_path),
        "--params",
        str(model_params(tmp_path, COMMIT)),
        "--out",
        str(tmp_path / "model"),
        env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "c")},
    )
    assert result.returncode == 1
    assert "http://127.0.0.1:9 is unreachable" in result.stderr
    # huggingface_hub alone retries for ~25 s; the probe must answer well before that.
    assert time.monotonic() - started < 20


@pytest.mark.integration
def test_hub_dataset_resolves_from_local_cache_offline(tmp_path: Path, small_dataset: Path) -> None:
    filename = "sentiment/test-00000-of-00001.parquet"
    cache = tmp_path / "hub"
    lay_out_hub_cache(cache, "dataset", "cardiffnlp/tweet_eval", {filename: small_dataset / "eval.parquet"})
    params = write_params(tmp_path / "params.yaml", {"data": {"source": "hub", "max_samples": 10}})
    out = tmp_path / "dataset"
    result = run_module(
        "stages.dataset",
        "--params",
        str(params),
        "--out",
        str(out),
        env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["commit"] == COMMIT and info["file"] == filename
    assert info["total_examples"] == 48 and info["eval_examples"] == 10


@pytest.mark.e2e  # the download stage run whole
def test_local_model_folder(tmp_path: Path, tiny_model: Path) -> None:
    params = write_params(tmp_path / "params.yaml", {"model": {"source": "local", "local_path": str(tiny_model)}})
    out = tmp_path / "model"
    result = run_module("stages.download", *training_outputs(tmp_path), "--params", str(params), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "model_info.json").read_text())["source"] == "local"
    untrained = {"format_version": 1, "source": "local", "trained": False}
    assert json.loads((tmp_path / "training.json").read_text()) == untrained
    assert (tmp_path / "training_loss.csv").read_text().strip() == "step,epoch,loss"
    missing = write_params(tmp_path / "bad.yaml", {"model": {"source": "local", "local_path": str(tmp_path / "x")}})
    result = run_module("stages.download", *training_outputs(tmp_path), "--params", str(missing), "--out", str(out))
    assert result.returncode == 1 and "holds no config.json" in result.stderr
