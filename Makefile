# Tidings — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
export TIDINGS_PORT ?= 8000

.PHONY: run test lint format lock install dirs migrate seed clean-var bench faults

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

install: $(STAMP)

dirs:
	@mkdir -p var/celery/queue var/celery/processed var/celery/control var/sandbox

migrate: install dirs
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

## Start web, Celery worker and Celery beat on the embedded defaults (Ctrl-C stops everything).
run: seed
	@echo
	@echo "  Tidings is starting:"
	@echo "    admin     http://127.0.0.1:$(TIDINGS_PORT)/admin/"
	@echo "    API docs  http://127.0.0.1:$(TIDINGS_PORT)/api/docs/"
	@echo "    health    http://127.0.0.1:$(TIDINGS_PORT)/healthz  http://127.0.0.1:$(TIDINGS_PORT)/readyz"
	@echo
	$(BIN)/honcho -f Procfile.dev start

## Run the whole suite; it starts its own PostgreSQL and Redis on loopback.
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

## Measure Tidings against Meta's limits (about 5 minutes); writes docs/benchmarks.md.
bench: install
	@command -v wrk >/dev/null || { echo "make bench needs wrk for the webhook load: apt-get install -y wrk"; exit 1; }
	$(PY) -m bench $(BENCH_ARGS)

## Break things mid-campaign and check nothing is lost or sent twice (FAULTS_SIZE messages).
FAULTS_SIZE ?= 10000
faults: install
	$(PY) -m bench.faults --size $(FAULTS_SIZE)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Re-pin every dependency from pyproject.toml into requirements.lock.
lock:
	rm -rf /tmp/tidings-lock && $(PYTHON) -m venv /tmp/tidings-lock
	/tmp/tidings-lock/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	{ echo "# Pinned versions of every dependency (runtime and test). Regenerate with 'make lock'."; \
	  /tmp/tidings-lock/bin/pip freeze --exclude-editable; } > requirements.lock

clean-var:
	rm -rf var
