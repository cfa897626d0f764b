"""Shared fixtures: a tiny stand-in model and a small slice of TweetEval, built once per test session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import build_bentos
from servers import SharedServers

from stages.common.cpu_steal import StealMeter
from stages.common.environment import cpu_model
from stages.common.net import free_port
from stages.loadgen.nullserver import start_null_server
from stages.model.convert import convert_variant
from stages.model.dataset import build_dataset
from stages.model.download import download_model
from stages.model.export import export_stage
from stages.params.convert import Fp16Params, Int8Params
from stages.params.data import DataParams
from stages.params.export import ExportParams
from stages.params.model import ModelParams, StandinParams
from stages.params.tokenizer import TokenizerParams

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sentences() -> Path:
    """The committed synthetic sentences (tests/data/sentiment), laid out like a TweetEval folder."""
    return REPO_ROOT / "tests" / "data" / "sentiment"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "model"
    standin = ModelParams(source="standin", standin=StandinParams(size="tiny"))
    download_model(standin, DataParams(), out, threads=1)
    return out


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory, sentences: Path) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    build_dataset(DataParams(source="local", local_path=str(sentences), max_samples=48, corpus_size=64), out)
    return out


@pytest.fixture(scope="session")
def tiny_variants(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, small_dataset: Path) -> Path:
    """``onnx-fp32``, ``onnx-fp16`` and ``onnx-int8`` of the tiny model, as the pipeline lays them out."""
    variants = tmp_path_factory.mktemp("variants")
    export_stage(tiny_model, small_dataset, variants / "onnx-fp32", ExportParams(), TokenizerParams(), threads=1)
    convert_variant("onnx-fp16", Fp16Params(), variants / "onnx-fp32", tiny_model, variants / "onnx-fp16")
    convert_variant("onnx-int8", Int8Params(), variants / "onnx-fp32", tiny_model, variants / "onnx-int8")
    return variants


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_variants: Path,
          small_dataset: Path) -> dict[str, Any]:
    """The tiny stand-in's two Bentos."""
    return build_bentos(tmp_path_factory.mktemp("build"), tiny_model, tiny_variants, small_dataset)


@pytest.fixture(scope="session")
def servers(built: dict[str, Any]) -> Iterator[SharedServers]:
    """One running server per service, started on first use, for the tests that only talk to it."""
    shared = SharedServers(built)
    try:
        yield shared
    finally:
        shared.close()


def running_null_server(fast: bool) -> Iterator[str]:
    port = free_port()
    process = start_null_server(port, fast=fast)
    yield f"http://127.0.0.1:{port}"
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def null_server() -> Iterator[str]:
    """The aiohttp null server, with its error, slow, serial, reset and stall routes."""
    yield from running_null_server(fast=False)


@pytest.fixture(scope="session")
def fast_server() -> Iterator[str]:
    """The protocol-level null server: fast enough that the generator, not the server, sets the pace."""
    yield from running_null_server(fast=True)


# Fixtures that start a server or another process: a test that uses one is an integration test.
INTEGRATION_FIXTURES = {"built", "servers", "null_server", "fast_server", "second_server", "fake_cluster",
                        "locked_repo", "repo"}
TIERS = ("unit", "integration", "e2e", "benchmark")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiers: a test using a process-starting fixture is ``integration`` unless marked ``e2e``; the rest is
    ``unit`` (and :func:`unit_tests_start_no_process` holds it to that)."""
    for item in items:
        if item.get_closest_marker("e2e") is None and INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@dataclass
class TierTally:
    """One tier's outcomes and seconds (setup, call and teardown) in this session."""

    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


TALLIES: dict[str, TierTally] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = next((name for name in reversed(TIERS) if name in report.keywords), "unit")
    tally = TALLIES.setdefault(tier, TierTally())
    tally.seconds += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        tally.outcomes["error" if report.when == "setup" and report.failed else report.outcome] += 1


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each tier's count and time, so that one run of ``make test`` says what each tier costs."""
    parts = [f"{tier} {', '.join(f'{count} {outcome}' for outcome, count in sorted(TALLIES[tier].outcomes.items()))}"
             f" in {int(TALLIES[tier].seconds // 60)}:{int(TALLIES[tier].seconds % 60):02d}"
             for tier in TIERS if tier in TALLIES]
    if parts:
        terminalreporter.write_line(f"tiers: {'; '.join(parts)}")


@pytest.fixture(autouse=True)
def unit_tests_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test starts no process (the unit tier's promise: seconds, not minutes, and no machine state);
    one that does fails, naming the marker it needs."""
    marked = {mark.name for mark in request.node.iter_markers()}
    if marked & {"integration", "e2e", "benchmark"}:
        return

    def refuse(self: subprocess.Popen[bytes], args: object, *more: object, **options: object) -> None:
        self._child_created = False  # type: ignore[attr-defined]  # what Popen.__del__ looks at
        raise AssertionError(f"{request.node.nodeid} starts a process ({args!r}): mark it "
                             "@pytest.mark.integration (tests/conftest.py, the tiers)")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@dataclass
class Timing:
    """One timing benchmark's record: the figures it measured, the CPU share a hypervisor took meanwhile, and
    whether its bounds held."""

    name: str
    figures: dict[str, float] = field(default_factory=dict)
    stolen: float | None = None
    outcome: str = "not run"


TIMINGS = pytest.StashKey[dict[str, Timing]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--timing-out", type=Path, default=None,
                     help="write the timing benchmarks' figures here (make bench-timing)")


@pytest.fixture
def timing_record(request: pytest.FixtureRequest) -> Iterator[Timing]:
    """For a ``benchmark``: record figures into ``timing_record.figures``; the steal over the test is measured here."""
    record = Timing(request.node.nodeid)
    request.config.stash.setdefault(TIMINGS, {})[request.node.nodeid] = record
    with StealMeter() as meter:
        yield record
    record.stolen = meter.share


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.config.stash.get(TIMINGS, {}).get(item.nodeid)
    if record is not None and call.when == "call":
        record.outcome = report.outcome
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """``--timing-out``: the benchmarks' figures, outcomes and steal, with the machine they ran on."""
    out, records = session.config.getoption("--timing-out"), session.config.stash.get(TIMINGS, {})
    if out is None or not records:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu_model": cpu_model(), "measured_on": time.strftime("%Y-%m-%d %H:%M %Z"),
                               "benchmarks": [asdict(record) for record in records.values()]}, indent=2) + "\n")
