# The workbook's two commands: `make run` (every notebook headless, local target) and `make test`.
# Each installs what it needs first: a .venv from requirements/workbook.lock (PyPI only).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.workbook-installed

.PHONY: help install run test test-fast lab lock accept bench measured clean

help:
	@echo "make run    run every notebook headless (NB=00_getting_started for one, TARGET=aws for AWS)"
	@echo "make test   run the tests: helpers, DAG integrity, lint, browser, every notebook (NB=05_snowflake for one, twice)"
	@echo "make test-fast  unit, DAG integrity, lint and notebook skeleton tests; no local cloud (about 2 minutes)"
	@echo "make lab    open the workbook in JupyterLab with its kernel"
	@echo "make accept NB=...  copy executed outputs from build/notebooks back into notebooks/"
	@echo "make bench  measure the local MWAA and the notebook lanes, then regenerate the README's measured table"
	@echo "make lock   re-resolve requirements/workbook.lock against the MWAA 3.3.1 constraints"
	@echo "make clean  stop the local cloud and remove .workbook/ and build/"

install: $(STAMP)

$(STAMP): requirements/workbook.lock requirements/aws-cli.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: the workbook needs Python 3.11 or newer, found " + sys.version.split()[0] + ": run make with PYTHON=python3.12 (or similar)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the workbook environment into $(VENV) (first time: a few minutes)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# Compiled bytecode: without it Airflow parses DAGs about 6x slower (PYTHONDONTWRITEBYTECODE is common).
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python --compile-bytecode requirements/workbook.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --compile-bytecode -e .
	@# The AWS CLI for the local EKS's pods, in a venv of its own (requirements/aws-cli.in says why).
	@$(BIN)/uv venv --quiet --allow-existing --python $(BIN)/python $(VENV)/aws-cli
	@$(BIN)/uv pip sync --quiet --python $(VENV)/aws-cli/bin/python --compile-bytecode requirements/aws-cli.lock
	@$(BIN)/python -m helpers.tooling.notebooks install-kernel
	@touch $@

run: install
	$(BIN)/python -m helpers.tooling.runner $(if $(NB),--only $(NB)) $(if $(TARGET),--target $(TARGET))

# NB=<notebook>: that notebook (both executions, then 99) and its unit tests (tests/notebook_budgets.toml)
test: install
	$(if $(NB),WORKBOOK_TEST_NOTEBOOKS=$(NB)) $(BIN)/python -m pytest

test-fast: install
	WORKBOOK_TEST_FAST=1 $(BIN)/python -m pytest -m "not notebooks and not localcloud and not browser"

lab: install
	$(BIN)/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

accept: install
	$(BIN)/python -m helpers.tooling.notebooks accept $(NB)

# Measurements behind the README's table: the local MWAA (build/benchmark.json), then lanes=1 vs lanes=2 on this
# commit (build/lanes.json; about 30 minutes). `make measured` records build/*.json and rewrites the table.
bench: install
	$(BIN)/python -m helpers.tooling.benchmark
	$(BIN)/python -m helpers.testkit.lanes compare
	$(BIN)/python -m helpers.testkit.measured record

measured: install
	$(BIN)/python -m helpers.testkit.measured record

lock: install
	$(BIN)/python -m helpers.tooling.lock

clean:
	-@test -x $(BIN)/python && $(BIN)/python -m helpers.localcloud down
	rm -rf .workbook build
