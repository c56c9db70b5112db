# proofgpt — `make` lists the targets. Two commands set everything up on a fresh machine:
#   make report   the workbook end to end (setup, data, cpu training, five reports)
#   make test     the whole test suite
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PROFILE ?= cpu
RUN ?= $(PROFILE)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install torch==2.13.0  # CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install -e '.[dev]'
	-git config filter.nbstripout.clean "$(abspath $(BIN))/nbstripout" && \
	 git config filter.nbstripout.smudge cat && \
	 git config diff.ipynb.textconv "$(abspath $(BIN))/nbstripout -t"
	touch $(STAMP)

.PHONY: setup
setup: $(STAMP) ## create .venv with torch 2.13.0 (CPU), the package and dev tools; install the nbstripout filter

.PHONY: browser
browser: ## install Debian's chromium for the browser test (if missing)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

.PHONY: data
data: setup ## generate data/training.txt (unless it is yours), check it, split it, report packing
	$(PY) -m proofgpt data prepare

.PHONY: train
train: data ## train with PROFILE (default cpu) into runs/$(RUN)
	$(PY) -m proofgpt train --profile $(PROFILE) --run $(RUN)

.PHONY: report
report: data ## the workbook end to end: train PROFILE and execute the five notebooks into reports/
	$(PY) -m proofgpt report --profile $(PROFILE) --run $(RUN)

.PHONY: lab
lab: setup ## open the workbook in JupyterLab
	$(BIN)/jupyter lab notebooks/

.PHONY: test
test: setup browser ## run the whole test suite (installs what it needs)
	$(PY) -m pytest -q

.PHONY: bench
bench: setup ## speed benchmarks as side-by-side ratios -> reports/bench/
	$(PY) -m proofgpt bench

.PHONY: clean
clean: ## remove runs/ and executed reports (never data/training.txt)
	rm -rf runs reports/smoke reports/cpu
