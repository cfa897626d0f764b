#!/bin/bash
# Each repaired or new test against a scratch copy of the committed code with one deliberate bug: the test must
# fail ("caught"). `bash tests/mutations.sh [--e2e]` from the repository, after `make setup`; it changes nothing
# here (the scratch copy is a git worktree of HEAD, removed at the end).
set -u
ROOT=$(git rev-parse --show-toplevel)
PY=$ROOT/.venv/bin/python
SCRATCH=$(mktemp -d)/servebench
git -C "$ROOT" worktree add -q --detach "$SCRATCH" HEAD && cd "$SCRATCH"
trap 'cd "$ROOT" && git worktree remove --force "$SCRATCH"' EXIT
run() {  # name, file, old, new, test
  git checkout -q -- . ; python3 - "$2" "$3" "$4" <<'P'
import sys, pathlib
p = pathlib.Path(sys.argv[1]); s = p.read_text(); assert sys.argv[2] in s, sys.argv[2]; p.write_text(s.replace(sys.argv[2], sys.argv[3], 1))
P
  if PYTHONPATH=$SCRATCH $PY -m pytest -q -p no:cacheprovider "$5" >"$SCRATCH.out" 2>&1; then echo "NOT CAUGHT: $1"
  else echo "caught: $1 -> $(grep -m1 -E '^(E |FAILED)' "$SCRATCH.out" | cut -c1-150)"; fi
}
run "weighted F1 computed as macro" stages/model/metrics.py 'average="weighted"' 'average="macro"' "tests/test_metrics.py::test_weighted_f1_weighs_each_class_by_its_examples"
run "README's paper workloads drift from params" params.yaml 'paper-gamma-1.2: {process: gamma, rate: 0.5, shape: 1.2' 'paper-gamma-1.2: {process: gamma, rate: 0.5, shape: 1.3' "tests/test_params.py::test_the_readme_describes_the_papers_scenarios_as_params_define_them"
run "a README example that changes nothing" README.md 'dvc exp run -S loadtest.repeats=6' 'dvc exp run -S loadtest.repeats=auto' "tests/test_readme.py::test_every_readme_override_passes_the_params_check"
run "saturation CPU divided by served requests only" stages/serving/limits.py 'event_loop_cpu_ms_per_request=per_request_ms(loop_cpu_s, handled)' 'event_loop_cpu_ms_per_request=per_request_ms(loop_cpu_s, served)' "tests/test_limits.py"
run "a stopped capacity step passes" stages/serving/capacity.py 'passed = not stopped and p99' 'passed = p99' "tests/test_capacity_steps.py::test_a_step_that_stopped_sending_fails_and_claims_no_goodput"
run "the report drops the resilience section" stages/reporting/document.py '"\n## Resilience: faults under load\n", resilience_section(inputs.resilience, params.resilience),' '' "tests/test_report.py"
run "compare swaps reference and candidate" stages/stats/experiment.py 'scenarios, aa, family = compare_all(arms, (REFERENCE, CANDIDATE), aa_pair, params.compare)' 'scenarios, aa, family = compare_all(arms, (CANDIDATE, REFERENCE), aa_pair, params.compare)' "tests/test_report.py"
run "a library module imports a stage layer above it" stages/loadgen/summary.py 'from __future__ import annotations' 'from __future__ import annotations
from stages.serving import limits as _upward  # noqa' "tests/test_layers.py"
if [ "${1:-}" = --e2e ]; then  # ~10 min: the real dvc repro of the tiny pipeline
  run "no scenario is comparable (the old test passed then)" stages/stats/experiment.py \
    'if not data.comparable or data.primary is None or data.secondary is None:' 'if True:' \
    "tests/test_pipeline_e2e.py::test_repro_runs_the_experiment_and_writes_the_report"
fi
git checkout -q -- .
