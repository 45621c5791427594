# Two commands: `make run` starts the whole system, `make test` runs lint and every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint format bench bench-sms validate journeys clean cluster drill

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m tools.run_all

# The production topology on this machine (Debian's redis-server, redis-sentinel, haproxy, postgresql).
cluster: $(STAMP)
	$(BIN)/python -m tools.cluster

# Faults under load against that topology; DRILL_SECONDS sets the length (default: the full run).
drill: $(STAMP)
	$(BIN)/python -m tools.drill

# The default lane (docs/testing.md): lint and every test on both cores, each database test on
# SQLite and on a throwaway PostgreSQL, the browser tests on SQLite; no failovers, drills or load tests.
# Two workers per core: a worker spends about half its time waiting on Redis, PostgreSQL, Chromium
# or a stand-in, and the other worker of its core runs meanwhile.
FAST_LANE := not slow and not (browser and postgresql)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

# Bytecode caches on even where the environment turns them off: each worker would otherwise compile
# (and rewrite the asserts of) every module again, about 5 s of CPU per worker.
test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "$(FAST_LANE)"

# The whole suite, as CI runs it (.ci/run): everything but the slow tests (the browser tests on
# PostgreSQL too), then the slow tests on one worker per core: failovers, the drill and the load
# tests start many processes of their own and measure time, so they run apart from the rest.
test-all: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not slow"
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(shell nproc) --dist worksteal -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

validate: $(STAMP)
	$(BIN)/flask --app app menus validate
	$(BIN)/flask --app app menus test

bench: $(STAMP)  # needs wrk, nodejs, npm (apt-get install wrk nodejs npm)
	$(BIN)/python -m pip install --quiet -r tools/bench/requirements.txt
	$(BIN)/python -m tools.bench.ussd_hops

bench-sms: $(STAMP)
	$(BIN)/python -m tools.bench.sms_throughput

clean:
	rm -rf var .pytest_cache .ruff_cache

.PHONY: bench-audit
bench-audit: $(STAMP)
	$(BIN)/python -m tools.bench.ussd_hops
