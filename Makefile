# dealreg: `make run` runs the system, `make test` runs the whole suite. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check stop catalogue bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	deploy/scripts/run.sh

# The whole suite: lint and types first, then unit, integration, end-to-end and browser
# tests; the fixtures start (and stop) their own Kafka and PostgreSQL.
test: install check
	deploy/scripts/kafka.sh fetch
	$(BIN)/pytest $(PYTEST_ARGS)

check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Speed and memory goals live here, not in tests; results go to docs/benchmarks.md.
bench: install
	deploy/scripts/kafka.sh fetch
	$(BIN)/python -m tests.bench.bench_matching 1000000
	$(BIN)/python -m tests.bench.bench_whatif 100000
	$(BIN)/python -m tests.bench.bench_flow 1000

catalogue: install
	$(BIN)/python -m schemas.catalogue docs/events

stop:
	-deploy/scripts/services.sh stop
	-deploy/scripts/crm-sandbox.sh stop
	-deploy/scripts/kafka.sh stop
	-PG_PORT=55433 deploy/scripts/postgres.sh stop

clean: stop
	rm -rf .dealreg

# The chaos run (issue 10, docs/reliability.md): the system on PostgreSQL with two instances of
# every service and a three-node Kafka cluster, under load, with faults injected at seeded
# random moments; invariants checked from the event history. Exits non-zero when one fails.
# Results: .dealreg/chaos/<seed>-<time>/result.{json,md}. Full run under an hour; the short
# one (CI) about ten minutes. CHAOS_SEED picks the schedule; CHAOS_ARGS adds options
# (e.g. --pg-port 55434 --kafka-base-port 29192).
CHAOS_SEED ?= 1
.PHONY: chaos chaos-short

chaos: install
	deploy/scripts/kafka.sh fetch
	$(BIN)/python -m tests.chaos.run --duration 2700 --seed $(CHAOS_SEED) $(CHAOS_ARGS)

chaos-short: install
	deploy/scripts/kafka.sh fetch
	$(BIN)/python -m tests.chaos.run --short --duration 300 --seed $(CHAOS_SEED) $(CHAOS_ARGS)
