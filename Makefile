# dealreg: `make run` runs the system, `make test` runs the whole suite. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock audit system-deps run test test-unit test-integration test-e2e test-contract check stop catalogue docs bench bench-matching clean

install: $(STAMP)

# Every dependency, direct or not, comes from requirements.lock with its hashes; the project
# itself is installed without resolving anything, and `pip check` proves the lock satisfies it.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

# Re-resolve requirements.lock from pyproject.toml (newest versions that fit); commit the result.
# It needs only a virtualenv with uv, not `make install`: after a dependency is added to
# pyproject.toml the old lock cannot satisfy it, and `make install`'s `pip check` would fail.
lock:
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --no-annotate --quiet \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu -o requirements.lock

# Known vulnerabilities in every pinned package of requirements.lock (PyPI's JSON API advisory
# data: it needs more than the package index, which is all CI's network reaches). --strict fails on a package it could not audit, so an audit that
# checked nothing never passes. A finding: raise the pin (`make lock` after a floor bump).
audit: install
	$(BIN)/pip-audit --strict --progress-spinner off --disable-pip --require-hashes \
	  -r requirements.lock

run: install
	deploy/scripts/run.sh

# The whole suite: lint and types first, then unit, integration, end-to-end and browser
# tests; the fixtures start (and stop) their own Kafka and PostgreSQL.
test: install check system-deps
	deploy/scripts/kafka.sh fetch
	$(BIN)/pytest $(PYTEST_ARGS)

# The suite by the infrastructure it needs (`make test` runs them all, after `make check`).
test-unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	deploy/scripts/kafka.sh fetch
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	deploy/scripts/kafka.sh fetch
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test-contract: install
	$(BIN)/pytest tests/contract $(PYTEST_ARGS)

# The system packages the tests use (PostgreSQL, Chromium, Node.js, Maven, Java), installed
# when we are root (as in CI); otherwise say what to run.
system-deps:
	@if [ "$$(id -u)" = 0 ]; then bash deploy/scripts/ci-system-deps.sh; \
	else echo "not root: run 'sudo bash deploy/scripts/ci-system-deps.sh' if a part is missing"; fi

check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Speed and memory goals live here, not in tests; results go to docs/benchmarks.md.
bench: install system-deps
	deploy/scripts/kafka.sh fetch
	$(BIN)/python -m tests.bench.bench_intake
	$(BIN)/python -m tests.bench.bench_matching 1000000
	$(BIN)/python -m tests.bench.bench_whatif 100000
	$(BIN)/python -m tests.bench.bench_flow 1000
	$(BIN)/python -m tests.bench.bench_drain
	$(BIN)/python -m tests.bench.bench_drain 5000 --instances=1,2
	$(BIN)/python -m tests.bench.bench_visible
	$(BIN)/python -m tests.bench.bench_crm_drain
	$(BIN)/python -m tests.bench.bench_memory

# Matching quality on the labelled set and public names (issue 17): precision, recall, review
# share before and after calibrating the review band; tables to stdout, plots to docs/bench/.
bench-matching: install
	$(BIN)/python -m tests.bench.bench_matching quality docs/bench

catalogue: install
	$(BIN)/python -m schemas.catalogue docs/events

# Every generated document: the event catalogue, the three OpenAPI documents, the rules page.
docs: catalogue
	$(BIN)/python -m deal_registration.openapi docs/openapi/deal_registration.json
	$(BIN)/python -m conflict_resolver.openapi docs/openapi/conflict_resolver.json
	$(BIN)/python -m crm_sync.openapi docs/openapi/crm_sync.json
	$(BIN)/python -m conflict_resolver.policy_doc > docs/rules-of-engagement.md

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
	$(BIN)/python -m tests.chaos.run --duration 1800 --seed $(CHAOS_SEED) $(CHAOS_ARGS)

chaos-short: install
	deploy/scripts/kafka.sh fetch
	$(BIN)/python -m tests.chaos.run --short --duration 300 --seed $(CHAOS_SEED) $(CHAOS_ARGS)
