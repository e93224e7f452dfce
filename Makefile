# fidc-lakehouse. Needs only Python 3.11+ and make: everything else is installed into .venv by uv,
# itself bootstrapped into .venv from PyPI, from the pinned uv.lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.synced

.PHONY: help setup demo test test-unit ui check lint types imports sql db-start db-stop clean

help:
	@echo "make demo   run the main job end to end on embedded defaults (sample data, embedded PostgreSQL)"
	@echo "make test   run the tests (unit + integration, real PostgreSQL/Iceberg/dbt/GX/webserver)"
	@echo "make ui     start the Dagster webserver on http://127.0.0.1:3000"
	@echo "make check  the gates CI and pre-commit run: ruff, the import contract, sqlfluff, pyright"
	@echo "make lint   ruff only (check + format)"
	@echo "make soak   faults and abuse for SOAK_S seconds (default 1200), then a table (docs/soak.md)"

# --compile-bytecode: the .pyc files written once here; with PYTHONDONTWRITEBYTECODE set (CI, containers) every
# process would otherwise compile dagster, dbt and the rest from source on each start (~4 s of CPU per run worker)
$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) sync --frozen --compile-bytecode
	@touch $(STAMP)

setup: $(STAMP)
	$(BIN)/fidc-lake dbt-prepare

demo: setup
	$(BIN)/fidc-lake demo

test: $(STAMP)
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

ui: setup
	$(BIN)/fidc-lake ui

# The gates, fastest first. .pre-commit-config.yaml runs the same commands and .ci/run runs `make check`
# before `make test`: keep the three in step (tests/unit/test_gates.py checks they are).
check: lint imports sql types

lint: $(STAMP)
	$(BIN)/ruff check fidc_assets tests bench
	$(BIN)/ruff format --check fidc_assets tests bench

# the layers of lib/ and "product code never imports sample/" ([tool.importlinter] in pyproject.toml)
imports: $(STAMP)
	$(BIN)/lint-imports

# the dbt models (dbt_project/.sqlfluff: postgres, jinja templater with dbt's builtins and our macros)
sql: $(STAMP)
	$(BIN)/sqlfluff lint dbt_project/models

# pyright, standard mode ([tool.pyright] in pyproject.toml): zero errors
types: $(STAMP)
	$(BIN)/pyright

db-start: $(STAMP)
	$(BIN)/fidc-lake db start

db-stop: $(STAMP)
	$(BIN)/fidc-lake db stop

clean:
	-$(BIN)/fidc-lake db stop
	rm -rf .fidc dbt_project/target dbt_project/logs

.PHONY: bench-ingest
bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest

# the whole landing (archive + registry + parse + quarantine + Iceberg) and `fidc-lake ingest` vs bare pyarrow
# (bench/land.py; `.venv/bin/python -m bench.land --quick` or `--sizes csv=1M` for a short run)
.PHONY: bench-land
bench-land: $(STAMP)
	$(BIN)/python -m bench.land

.PHONY: bench-hot
bench-hot: $(STAMP)
	$(BIN)/python -m bench.hot
	$(BIN)/python -m bench.marts

.PHONY: bench-history
YEARS ?= 7
FUNDS ?= 20
bench-history: $(STAMP)
	$(BIN)/python -m bench.history --years $(YEARS) --funds $(FUNDS)

# --- issue 12: deployment artifacts (deploy/). Renders every Kustomize overlay without kubectl and validates
# it, and the Secret template, with kubernetes-validate --strict (the unit tests do the same, and more).
.PHONY: deploy-check
deploy-check: $(STAMP)
	@rm -rf .fidc/deploy-rendered
	$(BIN)/python -m deploy.render --all .fidc/deploy-rendered
	$(BIN)/kubernetes-validate --strict --quiet -k 1.37.0 .fidc/deploy-rendered/*.yaml deploy/k8s/secrets/*.yaml

# --- issue 11: the daily loop (sensor → lake → marts under `fidc-lake ui`) against the direct path's floor.
# FUNDS=4 (or ARGS=--quick) for a short run while developing.
.PHONY: bench-daily
bench-daily: setup
	$(BIN)/python -m bench.daily --funds $(FUNDS) $(ARGS)

# faults and abuse for SOAK_S seconds (default 1200) spread over the scenarios, then the table (docs/soak.md)
.PHONY: soak
SOAK_S ?= 1200
soak: $(STAMP)
	SOAK_S=$(SOAK_S) $(BIN)/python -m bench.soak
