"""The real ``dvc repro`` of the whole pipeline in a temporary copy of the repository, on the tiny stand-in.

Which stages a change reruns is DVC's answer without a second repro: ``test_rerun_scope.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from helpers import copy_repo, system_tool_or_skip, write_params

from stages.common.cpu_steal import read_ticks
from stages.faults.balancer import missing as balancer_missing
from stages.params.base import load_params
from stages.params.file import Params
from stages.reporting.browser_check import check_page, find_browser

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e
EXPERIMENT = {"loadtest@e2e-steady", "loadtest@e2e-bursty", "capacity", "compare", "gate", "calibrate", "resilience",
              "report"}


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
def pipeline_copy(tmp_path_factory: pytest.TempPathFactory, sentences: Path) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    params = load_params(Params, REPO_ROOT / "params.yaml").model_dump(by_alias=True)
    params["model"] |= {"source": "standin", "standin": {"size": "tiny", "seed": 0, "logit_spread": 3.0}}
    params["data"] |= {"source": "local", "local_path": str(sentences), "max_samples": 40, "corpus_size": 50}
    params["runtime"]["threads"] = 1
    params["validate"]["latency"] = {"batch_sizes": [1, 8], "warmup": 1, "repeats": 3}
    # The tiny stand-in's INT8 variant is too noisy to pass the gate: serve the FP32 export as "optimized".
    params["serve"]["optimized"] |= {"variant": "onnx-fp32", "threads": 1}
    params["serve"]["baseline"]["threads"] = 1
    params["limits"] = {"sequential_requests": 10, "saturation_seconds": 2.0, "saturation_concurrency": 8,
                        "ramp_step_seconds": 0.5, "warmup_requests": 2, "raw_repeats": 4, "rounds": 2,
                        "request_timeout_s": 30.0}
    params["loadgen"]["scenarios"] |= {
        "e2e-steady": {"process": "exponential", "rate": 8.0, "duration_s": 4.0, "warmup_s": 0.5, "seed": 1},
        # stated against the capacity the pipeline measures, resolved by the load test
        "e2e-bursty": {"process": "gamma", "rate": {"of": "baseline", "fraction": 0.2}, "shape": 0.5, "requests": 40,
                       "warmup_s": 0.1, "seed": 2},
    }
    params["loadtest"] |= {"scenarios": ["e2e-steady", "e2e-bursty"], "repeats": 2, "warmup_requests": 2,
                           "aa": {"service": "optimized", "scenario": "e2e-steady"},
                           # e2e-steady alternates its arms in 1-s slots; e2e-bursty runs a fresh server per run
                           "switchback": {"enabled": True, "slot_s": 1.0, "fresh_per_run": ["e2e-bursty"]}}
    params["capacity"] |= {"start_rate": "saturation", "max_steps": 4, "requests_per_step": 40, "warmup_s": 0.5}
    params["compare"]["calibration"] |= {"trials": 20}
    # The tiny model answers in a few ms and shares 2 cores with the generator: a few ms of send lag is the
    # norm here, and this test checks the pipeline's mechanics, not the generator's fidelity.
    params["loadgen"]["lag_bound_ms"] = 20.0
    params["loadgen"]["scenarios"]["e2e-fault"] = {"process": "exponential", "rate": 8.0, "duration_s": 8.0,
                                                   "warmup_s": 0.5, "seed": 3, "timeout_s": 5.0}
    # near the optimized service's capacity as this pipeline measures it
    params["loadgen"]["scenarios"]["e2e-fault-near"] = {**params["loadgen"]["scenarios"]["e2e-fault"], "seed": 4,
                                                        "rate": {"of": "optimized", "fraction": 0.5}}
    params["resilience"] |= {"scenario": "e2e-fault", "faults": ["freeze", "kill-worker"], "repeats": 2,
                             "fault_window_s": [2.0, 3.5], "freeze_s": 1.0, "healthy_s": 1.0, "max_recovery_s": 3.0,
                             "multi_worker": {"workers": 2, "faults": ["kill-worker"]},
                             "near_capacity": {"scenario": "e2e-fault-near", "faults": ["kill-worker"]},
                             "failover": {"replicas": 2, "faults": ["kill-server"]}}
    write_params(root / "params.yaml", params)
    # The committed lock records the offline run; without it every stage must run, k3s included (its params
    # and outputs would otherwise match the lock and it would rightly be skipped).
    (root / "dvc.lock").unlink(missing_ok=True)
    return root


def test_repro_runs_every_stage_and_writes_validation(pipeline_copy: Path) -> None:
    output = run([sys.executable, "-m", "dvc", "repro"], pipeline_copy)
    assert stages_run(output) == {"download", "dataset", "export", "convert_fp16", "convert_int8", "validate",
                                  "build", "limits", "k3s", *EXPERIMENT}
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
        # The CPU that HTTP and the generator took is measured, and bounds what serving can reach.
        assert service["served"]["saturation"]["event_loop_cpu_ms_per_request"] > 0
        assert service["served"]["saturation"]["generator_cpu_ms_per_request"] > 0
        assert 0 < service["cpu_share_bound"] < 1
        # Single requests after the burst were measured; when they came back within 2x of low load is said, or
        # None where the 5 requests of this tiny block did not get there (a busy machine).
        assert service["served"]["low_load_after_saturation_latency_ms"]["count"] == 5
        back = service["served"]["after_saturation_back_s"]
        assert back is None or 0.0 < back < 60.0  # an answer of those 5 requests, seconds after saturation ended
        ramp = service["served"]["saturation"]["ramp"]  # the ramp stopped at the top or where it shed
        assert [step["concurrency"] for step in ramp] == [1, 2, 4, 8][:len(ramp)]


def attempts_by_run(index: dict[str, Any]) -> dict[tuple[str, int], list[int]]:
    """(arm, block) -> its attempts, checked: numbered 0, 1, ..., and only a failed audit was rerun (a busy machine
    may fail one; it is rerun in its block, loadtest.max_reruns): the arm's own run, or in a switchback block any
    of its arms' runs, since the whole block is rerun."""
    attempts: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in index["runs"]:
        attempts.setdefault((run["service"], run["repeat"]), []).append(run)
    for (_, repeat), tries in attempts.items():
        tries.sort(key=lambda run: run["attempt"])
        assert [run["attempt"] for run in tries] == list(range(len(tries)))
        for earlier in tries[:-1]:
            same_try = [run for run in index["runs"] if run["repeat"] == repeat and run["attempt"] == earlier["attempt"]
                        and (index["protocol"] == "switchback" or run is earlier)]
            assert not all(run["valid"] for run in same_try)
    return {key: [run["attempt"] for run in tries] for key, tries in attempts.items()}


def test_repro_runs_the_experiment_and_writes_the_report(pipeline_copy: Path) -> None:
    results = pipeline_copy / "results"
    for scenario, arms in (("e2e-steady", ["aa-optimized", "baseline", "optimized"]),
                           ("e2e-bursty", ["baseline", "optimized"])):
        index = json.loads((results / "loadtest" / scenario / "runs.json").read_text())
        attempts = attempts_by_run(index)
        assert sorted(attempts) == [(arm, repeat) for arm in arms for repeat in (0, 1)]
        for entry in index["runs"]:
            summary = json.loads((results / "loadtest" / scenario / entry["path"] / "summary.json").read_text())
            assert sum(summary["outcomes"].values()) == summary["requests"]["measured"] > 0
            assert entry["cpu_stolen"] == summary["audit"]["generator_cpu"]["stolen"]  # both None off Linux
            assert entry["machine"]["readings"] > 0  # the probe ran through every run
    steady = json.loads((results / "loadtest" / "e2e-steady" / "runs.json").read_text())
    assert steady["protocol"] == "switchback" and steady["slot_s"] == 1.0
    for scenario in ("e2e-steady", "e2e-bursty"):  # both protocols measure each arm's server CPU per request
        for entry in json.loads((results / "loadtest" / scenario / "runs.json").read_text())["runs"]:
            assert entry["cost"]["cpu_ms_per_request"] > 0 and entry["cost"]["peak_rss_mb"] > 50
    assert all(len(slot["cpu_ms"]) == 3 and min(slot["cpu_ms"]) >= 0 for slot in steady["slots"])
    slots = steady["slots"]
    steady_attempts = attempts_by_run(steady)
    for repeat in (0, 1):  # every 1-s segment of the schedule went to each of the 3 arms, in turn, per attempt
        block = [slot for slot in slots if slot["repeat"] == repeat]
        pairs = {slot["pair"] for slot in block}
        tries = {len(steady_attempts[(arm, repeat)]) for arm in ("aa-optimized", "baseline", "optimized")}
        assert len(tries) == 1  # a switchback block is rerun whole: its arms share a machine
        assert len(pairs) >= 3 and len(block) == 3 * len(pairs) * tries.pop()
        assert all(slot["drain_s"] >= 0 and slot["machine"]["readings"] >= 0 for slot in block)
    assert json.loads((results / "loadtest" / "e2e-bursty" / "runs.json").read_text())["protocol"] == "fresh-per-run"
    comparison = json.loads((results / "comparison.json").read_text())
    for headline in (*comparison["scenarios"].values(), comparison["aa"]):
        assert headline["comparable"] and headline["blocks"] == 2  # two valid blocks of every arm were run
        # 1-2 s runs of a 1-thread tiny model can read "overloaded" (its latency grew): a verdict, not a ratio
        if headline["p50_verdict"] == "overloaded":
            assert headline["overloaded"]  # names the arm whose queue grew
            continue
        # 2 blocks are below the floor of 8 (compare.min_units): the ratio is shown, no verdict is made
        assert headline["p50_verdict"] == "insufficient data"
        assert headline["p50_ratio_ci"][0] <= headline["p50_ratio"] <= headline["p50_ratio_ci"][1]
        assert headline["tail_verdict"] == "too few requests"
    assert comparison["aa"]["p50_verdict"] != "faster"  # the same Bento twice
    detail = json.loads((results / "comparison_detail.json").read_text())
    for data in detail["scenarios"].values():  # the headline's words, the why beside each in the detail
        tail = data["primary"]["tail"]
        assert tail["verdict"] != "too few requests" or tail["verdict_detail"].startswith("a run needs >= 44")
        p50 = data["primary"]["p50"]
        assert p50["verdict"] != "insufficient data" or p50["verdict_detail"].startswith("2 blocks, a ratio verdict")
    for headline in comparison["scenarios"].values():  # CPU per request, paired like latency, below the floor
        assert headline["cost_ratio"] > 0 and headline["cost_verdict"] == "insufficient data"
    assert "## Cost per request" in (results / "report.md").read_text()
    calibration = json.loads((results / "calibration.json").read_text())
    assert calibration["blocks"] == 2 and calibration["trials"] == 20
    assert set(calibration["checks"]) >= {"per_verdict_false_change", "joint_false_change", "coverage_per_interval",
                                          "gate_false_alarm", "aa_false_change", "resampled_false_change"}
    capacity = json.loads((results / "capacity.json").read_text())
    assert set(capacity["services"]) == {"baseline", "optimized"}
    assert all(service["steps"] for service in capacity["services"].values())
    if read_ticks() is not None:  # every step says how much CPU a hypervisor took while it measured
        assert all(0 <= step["cpu_stolen"] <= 1 for service in capacity["services"].values()
                   for step in service["steps"])
    # ... and what the probe saw meanwhile: the machine state each capacity was measured in
    assert all(step["machine"]["readings"] > 0 for service in capacity["services"].values()
               for step in service["steps"])
    assert "CPU stolen by a hypervisor" in (results / "report.md").read_text()
    limits = json.loads((results / "limits.json").read_text())
    for name, service in capacity["services"].items():  # the search starts at the saturation limits measured
        saturation = limits["services"][name]["served"]["saturation"]["throughput_per_s"]
        assert service["start_rate"] == service["steps"][0]["rate"] == pytest.approx(saturation, abs=0.01)
    bursty = json.loads((results / "loadtest" / "e2e-bursty" / "runs.json").read_text())["offered"]
    baseline_capacity = capacity["services"]["baseline"]["capacity_per_s"]
    assert bursty["relative_to"] == "baseline" and bursty["fraction"] == 0.2
    assert bursty["rate_per_s"] == pytest.approx(0.2 * baseline_capacity, abs=1e-3)
    assert bursty["multiple_of_capacity"]["baseline"] == pytest.approx(0.2, abs=1e-3)
    for service in limits["services"].values():  # served and shed apart, at a ramp step within the shed bound
        saturation = service["served"]["saturation"]
        assert saturation["ramp"][0]["concurrency"] == 1
        assert saturation["concurrency"] in [step["concurrency"] for step in saturation["ramp"]]
    report = (results / "report.md").read_text()
    assert "0.2 x baseline's capacity" in report
    for heading in ("## Headline", "## Environment", "## Offline", "## Serving limits", "## Under load", "### Method",
                    "### Verdicts", "### Calibration", "## Capacity", "## Resilience", "## Figures"):
        assert heading in report
    resilience = json.loads((results / "resilience.json").read_text())
    failover = "kill-server-2-replicas"
    run_here = {"freeze", "kill-worker", "kill-worker-2-workers", "kill-worker-near-capacity"}
    assert set(resilience["faults"]) | set(resilience["skipped"]) == {*run_here, failover}
    assert (failover in resilience["faults"]) == (balancer_missing() is None)  # else skipped, saying why
    assert resilience["all_requests_recorded"] and resilience["faults"]["kill-worker-2-workers"]["workers"] == 2
    near = resilience["faults"]["kill-worker-near-capacity"]
    assert near["scenario"] == "e2e-fault-near" and near["load"]["multiple_of_capacity"]["optimized"] == \
        pytest.approx(0.5, rel=1e-3)  # resolved against the capacity this pipeline measured
    for fault in resilience["faults"].values():
        # a run failing the generator's audit (a slow machine at the near-capacity rate) is rerun once, kept aside
        assert fault["repeats"] == 2 and 2 <= len(fault["runs"]) <= 4
        assert len(fault["runs"]) - fault["audit_failed"] <= 2  # at most one audited run per repeat
        assert fault["recorded_equals_scheduled"]
        # each repeat at its own instant (a rerun keeps its repeat's draw: the same instant, give or take the
        # milliseconds the fault timer lands after a send; two repeats' sends lie further apart)
        assert len({round(run["fault_at_s"], 2) for run in fault["runs"]}) == 2
        assert all((run["cpu_stolen"] is not None) == (read_ticks() is not None) for run in fault["runs"])
    timelines = pd.read_csv(results / "resilience" / "failed_per_s.csv")
    assert list(timelines.columns) == ["from_fault_s", *resilience["faults"]]
    assert (pipeline_copy / "k3s" / "servebench-2-replicas.yaml").is_file()
    figures = [line.split("(")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert len(figures) == 9 and all((results / figure).is_file() for figure in figures)
    assert "plots/cost.png" in figures  # CPU per request by arm, and the latency split by Server-Timing
    assert "| A/A (e2e-steady) | aa-optimized / optimized |" in report


def test_the_headline_metrics_are_what_the_report_quotes_and_all_dvc_shows(pipeline_copy: Path) -> None:
    results = pipeline_copy / "results"
    metrics = json.loads((results / "metrics.json").read_text())
    assert set(metrics["tailx"]) == set(metrics["tail"]) == set(metrics["p50x"]) == {"e2e-steady", "e2e-bursty"}
    assert set(metrics["costx"]) == set(metrics["cost"]) == {"e2e-steady", "e2e-bursty"}
    assert set(metrics["acc"]) == set(metrics["f1"]) == {"base", "opt"}
    assert set(metrics["cap"]) == {"base", "opt", "x"}
    assert set(metrics["opt"]) == {"overhead_ms", "cold_start_s", "recovery_s", "not_recovered"}
    assert sum(len(group) for group in metrics.values()) == 23  # 6 per 2 scenarios (p50, tail, cost) and 11 more
    report = (results / "report.md").read_text()
    headline = report.split("## Headline")[1].split("\n## ")[0]
    for group, values in metrics.items():
        for key, value in values.items():
            assert f"| {group} | {key} | {'n/a' if value is None else value} |" in headline
    shown = json.loads(run([sys.executable, "-m", "dvc", "exp", "show", "--json"], pipeline_copy))
    metric_files = {name for entry in shown for name in (entry["data"]["metrics"] or {})}
    assert metric_files == {"results/metrics.json"}  # every other results JSON is a plain output
    kept = run([sys.executable, "-m", "dvc", "exp", "show", "--no-pager", "--md", "--drop", ".*", "--keep",
                r"^(Experiment|p50x)($|\.)"], pipeline_copy)  # DVC 3.67 raised KeyError 'service' here
    header = [cell.strip() for cell in kept.splitlines()[0].split("|")[1:-1]]
    # The kept columns only (HEAD's committed metrics may add its own scenarios' columns).
    assert header[0] == "Experiment" and all(column.startswith("p50x.") for column in header[1:])
    assert {"p50x.e2e-steady", "p50x.e2e-bursty"} <= set(header)
    for series in ("latency-vs-load-baseline.csv", "latency-vs-load-optimized.csv", "cdf-e2e-steady.csv"):
        assert len(pd.read_csv(results / "series" / series)) > 0


def test_second_repro_reruns_nothing(pipeline_copy: Path) -> None:
    output = run([sys.executable, "-m", "dvc", "repro"], pipeline_copy)
    assert stages_run(output) == set()


def test_a_pulled_clone_has_the_bentos_and_reruns_only_what_a_knob_changes(pipeline_copy: Path,
                                                                              tmp_path: Path) -> None:
    """The team workflow of the README: push the repro's outputs to a DVC remote (a local folder here), clone the
    repository fresh, pull. The clone is up to date (the Bentos came with their tags), and a one-knob change reruns
    only its load test and what reads it, serving the pulled Bentos."""
    remote = str(tmp_path / "remote")
    run(["git", "add", "-A"], pipeline_copy)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "repro"], pipeline_copy)
    run([sys.executable, "-m", "dvc", "remote", "add", "--local", "team", remote], pipeline_copy)
    run([sys.executable, "-m", "dvc", "push", "--run-cache", "-r", "team"], pipeline_copy)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pipeline_copy), str(clone)], tmp_path)
    assert not (clone / "bentoml").exists() and not (clone / "data" / "model").exists()
    run([sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "team", remote], clone)
    run([sys.executable, "-m", "dvc", "pull", "--run-cache"], clone)
    assert "Data and pipelines are up to date" in run([sys.executable, "-m", "dvc", "status"], clone)
    output = run([sys.executable, "-m", "dvc", "exp", "run", "-n", "seed-5", "-S",
                  "loadgen.scenarios.e2e-steady.seed=5"], clone)
    assert stages_run(output) == {"loadtest@e2e-steady", "compare", "gate", "calibrate", "report"}
    bentos = json.loads((clone / "results" / "bentos.json").read_text())
    assert bentos == json.loads((pipeline_copy / "results" / "bentos.json").read_text())
    served = (clone / "logs" / "loadtest" / "e2e-steady" / "optimized" / "run-0.log").read_text()
    assert bentos["services"]["optimized"]["bento"] in served  # the pulled store served, under its own tag
    # the experiment beside the commit it ran on, found by its name through DVC: its one knob is what differs
    page = tmp_path / "compare.html"
    run([sys.executable, "-m", "stages.reporting.compare_report", "HEAD", "seed-5", "--out", str(page)], clone)
    row = r"<td><code>loadgen.scenarios.e2e-steady.seed</code></td>\s*<td>1</td>\s*<td>5</td>"
    assert re.search(row, page.read_text())


def browser_or_skip() -> str:
    """Debian's chromium (or SERVEBENCH_BROWSER); CI installs it and sets SERVEBENCH_REQUIRE_BROWSER, so that a
    missing browser fails there instead of skipping."""
    browser = find_browser()
    system_tool_or_skip(None if browser else "no Chromium was found (apt-get install chromium)",
                        "SERVEBENCH_REQUIRE_BROWSER")
    assert browser is not None
    return browser


def test_the_html_report_renders_offline_in_a_real_browser(pipeline_copy: Path, tmp_path: Path) -> None:
    browser = browser_or_skip()
    results = pipeline_copy / "results"
    report = (results / "report.md").read_text()
    check = check_page(results / "report.html", tmp_path / "shots", "Fault timeline: freeze", browser)
    assert check.problems == []  # no console error, nothing fetched from outside the file, every figure drawn
    sections = [line.lstrip("# ").strip() for line in report.splitlines() if line.startswith(("## ", "### "))]
    assert all(section in check.headings for section in sections), set(sections) - set(check.headings)
    # per scenario its distribution and runs over time; capacity; cost and the latency split; one per fault
    faults = json.loads((results / "resilience.json").read_text())["faults"]
    assert check.figures == check.drawn == 2 * 2 + 1 + 2 + len(faults)
    assert [shot.name for shot in check.shots] == ["top.png", "Fault-timeline:-freeze.png"]
    assert all(shot.stat().st_size > 20_000 for shot in check.shots)


def test_the_comparison_page_of_the_committed_results_and_the_workspace_renders_offline(pipeline_copy: Path,
                                                                                        tmp_path: Path) -> None:
    browser = browser_or_skip()
    page = tmp_path / "compare.html"
    # the copy's first commit holds the committed repro (a later test may commit the tiny pipeline's results)
    committed_rev = run(["git", "rev-list", "--max-parents=0", "HEAD"], pipeline_copy).strip()
    run([sys.executable, "-m", "stages.reporting.compare_report", committed_rev, "workspace", "--out", str(page)],
        pipeline_copy)
    check = check_page(page, tmp_path / "shots", "e2e-steady: latency", browser)
    assert check.problems == []
    assert {"Params that differ", "Verdicts: optimized / baseline per scenario", "Headline metrics",
            "Latency distributions"} <= set(check.headings)
    html = page.read_text()
    assert "<code>loadtest.scenarios</code>" in html and f"<code>{committed_rev}</code>" in html
    # the committed scenarios and the workspace's e2e ones: one overlay per scenario that either ran
    committed = yaml.safe_load(run(["git", "show", f"{committed_rev}:params.yaml"], pipeline_copy))["loadtest"][
        "scenarios"]
    assert check.figures == check.drawn == len(set(committed) | {"e2e-steady", "e2e-bursty"})
