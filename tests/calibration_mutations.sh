#!/bin/bash
# Deliberately broken statistical procedures, each against the calibration (#41): the calibration must fail,
# naming the check that caught it. `bash tests/calibration_mutations.sh [trials]` from the repository, after
# `make setup` and a load test (results/loadtest, whose schedules params.yaml must still describe); it changes
# nothing here: each procedure runs in a scratch git worktree of HEAD, removed at the end. The calibration runs
# the identical-arms cases only (the broken procedures call changes that are not there), `trials` per case
# (default 500: a 5 % rate's chance bound is then 0.074), first on the faithful code, which must pass. PARAMS=...
# names another params file (one that describes the load tests' schedules).
set -u
ROOT=$(git rev-parse --show-toplevel)
PY=$ROOT/.venv/bin/python
TRIALS=${1:-500}
SCRATCH=$(mktemp -d)/servebench
git -C "$ROOT" worktree add -q --detach "$SCRATCH" HEAD && cd "$SCRATCH"
trap 'cd "$ROOT" && git worktree remove --force "$SCRATCH"' EXIT
"$PY" - "${PARAMS:-$ROOT/params.yaml}" "$SCRATCH.params.yaml" "$TRIALS" <<'P'
import sys, yaml
params = yaml.safe_load(open(sys.argv[1]))
params["compare"]["calibration"]["trials"] = int(sys.argv[3])
yaml.safe_dump(params, open(sys.argv[2], "w"))
P
CHECKS="per_verdict_false_change joint_false_change coverage_per_interval simultaneous_coverage"
calibrate() {  # name, expected: "pass" or "fail"
  if ! PYTHONPATH=$SCRATCH BENTOML_DO_NOT_TRACK=true "$PY" -m stages.calibrate --params "$SCRATCH.params.yaml" \
      --loadtest "$ROOT/results/loadtest" --out "$SCRATCH.json" --cases identical,identical-heavy \
      >"$SCRATCH.out" 2>&1; then
    echo "BROKEN RUN: $1: $(tail -1 "$SCRATCH.out")"; return
  fi
  failed=$("$PY" - "$SCRATCH.json" $CHECKS <<'P'
import json, sys
checks = json.load(open(sys.argv[1]))["checks"]
print(", ".join(f"{name} {checks[name]['value']:.4f} (target {checks[name]['target']}, {checks[name]['over']})"
                for name in sys.argv[2:] if checks[name]["value"] is not None and not checks[name]["passed"]))
P
)
  if [ "$2" = pass ]; then
    [ -z "$failed" ] && echo "faithful: passes $CHECKS" || echo "FAITHFUL FAILS: $failed"
  else
    [ -n "$failed" ] && echo "caught: $1 -> $failed" || echo "NOT CAUGHT: $1"
  fi
}
mutate() {  # name, then file old new triples: each replacement applied once to the clean tree
  local name=$1; shift
  git checkout -q -- .
  while [ $# -gt 0 ]; do
    "$PY" - "$1" "$2" "$3" <<'P'
import pathlib, sys
path = pathlib.Path(sys.argv[1]); text = path.read_text(); assert sys.argv[2] in text, sys.argv[2]
path.write_text(text.replace(sys.argv[2], sys.argv[3], 1))
P
    shift 3
  done
  calibrate "$name" fail
}
calibrate "the committed procedure" pass
mutate "requests treated as the unit (every request of a run a block of the paired test)" \
  stages/stats/arms.py 'return [[statistic(run.latencies_ms) for run in runs[arm]] for arm in arms]' \
                       'return [[float(value) for run in runs[arm] for value in run.latencies_ms] for arm in arms]' \
  stages/stats/arms.py 'stolen = _block_stolen(runs, pair)' \
                       'stolen = [None] * sum(run.requests for run in runs[pair[0]])'
mutate "Holm dropped (each verdict at alpha, its interval at 1 - alpha)" \
  stages/stats/design.py 'return self.look_alpha / self.family' 'return self.look_alpha' \
  stages/stats/arms.py 'for stat in family], design.family)' 'for stat in family], 1)' \
  stages/stats/paired.py 'running = max(running, min(1.0, (count - rank) * pvalues[index]))' \
                         'running = pvalues[index]'
mutate "the stopping rule applied without its correction (every look at the full alpha)" \
  stages/stats/design.py 'looks = auto.max_repeats - auto.min_repeats + 1 if loadtest.repeats == "auto" else 1' \
                         'looks = 1'
git checkout -q -- .
