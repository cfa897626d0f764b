"""Which stages a change reruns, as DVC itself answers it, without running the pipeline.

A copy of the repository gets placeholder files for every output and missing dependency, and ``dvc commit``
records them in a fresh lock: DVC now sees an up-to-date pipeline. After one change, DVC's ``status`` names the
stages whose own code, data or params changed (``direct``), and DVC's stage graph adds every stage downstream
of them (``reruns``: what ``dvc repro`` runs when each changed stage's outputs change too). A dependency missing
from ``dvc.yaml`` shows up as a stage missing from ``direct``; ``test_a_missing_dep_is_caught`` proves it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import chdir
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo
from helpers import copy_repo, run_module

from stages.params.base import load_params
from stages.params.file import Params
from stages.reporting.plan import rerun_plan


def lay_placeholders(root: Path) -> None:
    """Create every output and dependency path the pipeline names that the copy lacks: a folder where another
    named path lies inside it, else a small file."""
    with chdir(root):
        stages = Repo(".").index.stages
    paths = {Path(item.fs_path).relative_to(root) for stage in stages
             for item in (*stage.outs, *stage.deps) if not hasattr(item, "params")}
    folders = {path for path in paths if any(path in other.parents for other in paths)}
    for path in sorted(folders):
        (root / path).mkdir(parents=True, exist_ok=True)
    for path in sorted(paths - folders):
        if not (root / path).exists():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(f"placeholder for {path}\n")


def commit(root: Path, stage: str | None = None) -> None:
    """``dvc commit --force``: record the current deps and outputs of ``stage`` (or every stage) in the lock."""
    with chdir(root):
        Repo(".").commit(stage, force=True)


def rerun_scope(root: Path) -> tuple[set[str], set[str]]:
    """``(direct, reruns)``: the stages DVC's status calls changed, and those plus everything downstream."""
    plan, _ = rerun_plan(root)
    return {stage.name for stage in plan if stage.changes}, {stage.name for stage in plan}


@pytest.fixture(scope="module")
def locked_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    (root / "dvc.lock").unlink()
    lay_placeholders(root)
    commit(root)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], cwd=root, check=True)
    return root


@pytest.fixture
def repo(locked_repo: Path) -> Iterator[Path]:
    """The locked copy; each test's edits are undone after it."""
    yield locked_repo
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=locked_repo, check=True)


def experiment(root: Path) -> set[str]:
    """Every stage that serves the Bentos, for the copy's configured scenarios."""
    scenarios = load_params(Params, root / "params.yaml").loadtest.scenarios
    return {*(f"loadtest@{name}" for name in scenarios), "capacity", "compare", "gate", "calibrate", "resilience",
            "report"}


def set_param(root: Path, dotted: str, value: object) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    *parents, leaf = dotted.split(".")
    section = params
    for key in parents:
        section = section[key]
    section[leaf] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def touch(path: Path) -> None:
    path.write_text(path.read_text() + "\n# touched by the test\n")


def test_a_fresh_lock_leaves_nothing_to_run(repo: Path) -> None:
    assert rerun_scope(repo) == (set(), set())


def test_switching_off_fp16_reruns_only_what_depends_on_it(repo: Path) -> None:
    """On a CPU the optimized service serves INT8 (auto), so FP16 can be switched off; INT8 could not be while
    ``serve.optimized.variant: auto`` would pick it (the params check refuses that up front)."""
    set_param(repo, "convert.fp16.enabled", False)
    direct, reruns = rerun_scope(repo)
    assert direct == {"convert_fp16"}
    # The variants folder changes, so validate and build rerun; a new build is a new Bento tag: the manifests
    # name it as their image (k3s).
    assert reruns == {"convert_fp16", "validate", "build", "limits", "k3s", *experiment(repo)}


def test_touching_the_classifier_reruns_what_runs_it_and_nothing_upstream(repo: Path) -> None:
    touch(repo / "stages" / "model" / "classifier.py")
    direct, reruns = rerun_scope(repo)
    assert direct == {"export", "validate", "build", "limits"}
    # A new export feeds both conversions; a new build means new Bento tags for everything that serves them,
    # and for the manifests' image.
    assert reruns == {"export", "convert_fp16", "convert_int8", "validate", "build", "limits", "k3s",
                      *experiment(repo)}


def test_a_schema_edit_reruns_only_the_stages_that_read_its_section(repo: Path) -> None:
    """Each section's schema is one module (stages/params/<section>.py): a stage depends on the schemas of the
    sections it reads, so an edit to the resilience schema (a comment will do) reruns the resilience stage and
    the report that shows its results, not validate, capacity or the load tests."""
    touch(repo / "stages" / "params" / "resilience.py")
    assert rerun_scope(repo) == ({"resilience", "report"}, {"resilience", "report"})


def test_the_k3s_schema_reruns_the_manifests_and_the_runs_that_can_deploy_them(repo: Path) -> None:
    """Cluster-mode runs render their Deployment from the k3s section, so its schema is theirs too."""
    touch(repo / "stages" / "params" / "k3s.py")
    direct, _ = rerun_scope(repo)
    loadtests = {stage for stage in experiment(repo) if stage.startswith("loadtest@")}
    assert direct == {"k3s", "capacity", *loadtests}


def test_touching_the_arrivals_reruns_only_what_runs_the_generator(repo: Path) -> None:
    touch(repo / "stages" / "loadgen" / "arrivals.py")
    direct, reruns = rerun_scope(repo)
    # The report reads their records, it does not run the generator: it reruns for their new outputs only.
    assert direct == {"limits", *experiment(repo)} - {"compare", "gate", "report"}
    assert reruns == {"limits", *experiment(repo)}


def test_one_scenario_knob_reruns_only_that_scenario(repo: Path) -> None:
    scenario = load_params(Params, repo / "params.yaml").loadtest.scenarios[0]
    set_param(repo, f"loadgen.scenarios.{scenario}.rate", 3.0)
    # The report states every scenario's parameters in its methods section; the calibration replays every
    # scenario's schedule.
    assert rerun_scope(repo) == ({f"loadtest@{scenario}", "calibrate", "report"},
                                 {f"loadtest@{scenario}", "compare", "gate", "calibrate", "report"})


def test_a_capacity_knob_reruns_the_load_tests_whose_rates_it_sets(repo: Path) -> None:
    """The default scenarios state their rates against the measured capacities, the near-capacity faults' too: a
    new capacity is a new rate."""
    set_param(repo, "capacity.slo_p99_ms", 500)
    scenarios = load_params(Params, repo / "params.yaml").loadtest.scenarios
    direct, reruns = rerun_scope(repo)
    assert direct == {"capacity"}
    assert reruns == {"capacity", *(f"loadtest@{name}" for name in scenarios), "compare", "gate", "calibrate",
                      "resilience", "report"}


def test_a_k3s_knob_reruns_only_the_manifests(repo: Path) -> None:
    set_param(repo, "k3s.namespace", "elsewhere")
    assert rerun_scope(repo) == ({"k3s"}, {"k3s"})


def test_a_missing_dep_is_caught(repo: Path) -> None:
    """Break dvc.yaml on purpose: validate no longer lists the classifier it runs. After relocking, touching the
    classifier leaves validate out of ``direct``, so the classifier test above would fail on such a dvc.yaml."""
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    pipeline["stages"]["validate"]["deps"].remove("stages/model/classifier.py")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    commit(repo, "validate")
    touch(repo / "stages" / "model" / "classifier.py")
    direct, _ = rerun_scope(repo)
    assert "validate" not in direct and direct == {"export", "build", "limits"}


def test_a_statistics_knob_reruns_the_verdicts_not_the_load_tests(repo: Path) -> None:
    set_param(repo, "compare.equivalence", 0.1)
    assert rerun_scope(repo) == ({"compare", "calibrate", "report"}, {"compare", "gate", "calibrate", "report"})


def test_the_aa_knob_reruns_the_load_tests_it_changes(repo: Path) -> None:
    set_param(repo, "loadtest.aa.service", None)
    direct, reruns = rerun_scope(repo)
    scenarios = {f"loadtest@{name}" for name in load_params(Params, repo / "params.yaml").loadtest.scenarios}
    # the calibration simulates the A/A arm (and takes its noise from the load tests)
    assert direct == {*scenarios, "compare", "calibrate", "report"} and reruns == direct | {"gate"}


def test_a_gate_knob_reruns_the_gate_and_the_calibration_of_its_false_alarms(repo: Path) -> None:
    set_param(repo, "gate.min_capacity_ratio", 2.0)
    assert rerun_scope(repo) == ({"gate", "calibrate"}, {"gate", "calibrate", "report"})


@pytest.mark.integration
@pytest.mark.e2e  # a git clone and DVC on it, as a new user gets them
def test_a_fresh_clone_is_told_what_dvc_repro_would_run(tmp_path: Path) -> None:
    """A clone has no ``data/``: ``dvc repro --dry`` stops at ``export`` (DVC hashes its missing input), the plan
    answers from DVC's status and graph. The committed lock comes from the offline overrides, so the Hub defaults of
    ``params.yaml`` change ``download``, whose output is missing too."""
    root = copy_repo(tmp_path)
    answer = run_module("stages.reporting.plan", cwd=root, timeout=120)
    assert answer.returncode == 0, answer.stderr
    plan, stages = rerun_plan(root)
    names = [stage.name for stage in plan]
    download = plan[names.index("download")]
    assert any(change.startswith("params changed: ") and "data.source" in change for change in download.changes)
    assert "output not in the cache: data/model" in download.changes  # nor in the work tree: no remote here
    assert "download" in plan[names.index("export")].after
    assert names.index("download") < names.index("export") < names.index("build") < names.index("report")
    assert answer.stdout.startswith(f"dvc repro would run {len(plan)} of {stages} stages")
    assert "output not in the cache: data/model" in answer.stdout


@pytest.mark.integration
def test_the_paced_repro_takes_the_stages_in_dvc_repro_s_order() -> None:
    """``make repro-offline-paced`` waits for a quiet machine before each timing stage: it must reach every stage
    after what it reads (``dvc stage list`` would give loadtest before capacity, which sets its rate)."""
    answer = run_module("stages.reporting.plan", "--order", timeout=120)
    order = answer.stdout.split()
    assert answer.returncode == 0 and order[0] == "download" and len(order) == len(set(order))
    assert order.index("capacity") < min(order.index(name) for name in order if name.startswith("loadtest@"))
    assert order.index("limits") < order.index("capacity") and order.index("compare") < order.index("gate")
