# servebench: `make repro` runs the pipeline, `make test` the tests. Both create .venv first when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data/tweet_eval_sentiment
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
# DVC stage commands call `python`: make it the project's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro repro-offline test lint

# torch first, pinned: any other release would pull a multi-GB CUDA build.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

repro: setup
	$(BIN)/dvc repro

# No Hugging Face Hub: offline stand-in model (roberta-base shapes, random weights) and local TweetEval files.
repro-offline: setup
	$(BIN)/dvc exp run -S model.source=standin -S data.source=local -S data.local_path=$(SHARED_DATA)

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
