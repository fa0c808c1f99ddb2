# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

export DEBUG ?= 1
PORT ?= 8000

.PHONY: run test test-fast lint migrate demo-data demo venv clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

demo-data: migrate
	$(PY) manage.py seed_demo

run: demo-data
	@echo ""
	@echo "  Приложение:   http://127.0.0.1:$(PORT)/"
	@echo "  Админка:      http://127.0.0.1:$(PORT)/admin/"
	@echo "  API docs:     http://127.0.0.1:$(PORT)/api/docs/  (Redoc: /api/redoc/)"
	@echo "  Health:       http://127.0.0.1:$(PORT)/healthz"
	@echo "  Фоновые задачи: Celery worker + beat, встроенный брокер в .celery-broker/ (Ctrl+C или SIGTERM останавливает всё)"
	@echo ""
	$(PY) scripts/run_local.py --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	bash scripts/test.sh

# Everything but the tests marked `slow` (schemathesis, browser, fuzz, demo, real-process scenarios): the quick
# loop while working, over TEST_WORKERS pytest-xdist processes (a test database and a Redis database each;
# more processes than cores, as most tests wait on sockets). Run time: docs/performance.md, "Test suite run time".
TEST_WORKERS ?= 4
test-fast: $(STAMP)
	bash scripts/test.sh -m "not slow" -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .celery-broker .celery-results .celery-beat-schedule*

# The whole story end to end with a local fake provider (SQLite, eager Celery); the server stays up.
demo: $(STAMP)
	$(PY) scripts/demo.py

# Regenerate the committed OpenAPI documents (public / internal / notifications) from the code.
.PHONY: openapi
openapi: $(STAMP)
	$(PY) manage.py shell -v 0 -c "from communications.portal.openapi import write_all; [print('wrote', p) for p in write_all()]"

# Benchmarks (issue 9, README "Performance"): gunicorn + PostgreSQL + Redis + Celery + local fakes.
# Takes a few minutes; not part of `make test` or CI. Writes bench/results/latest.json (raw runs: artifacts/bench/).
# Reports CPU ms and SQL statements per item (issue 19, docs/performance.md); BENCH_S8_SCALE sizes the S8 volume.
.PHONY: bench
bench: $(STAMP)
	$(PY) bench/run.py

# Contract fuzzing over HTTP (issue 23): schemathesis, every phase and check, against a live gunicorn on
# PostgreSQL, one run per API surface. Reports in artifacts/fuzz/. FUZZ_MAX_EXAMPLES / FUZZ_MAX_TIME bound it.
.PHONY: fuzz
fuzz: $(STAMP)
	$(PY) scripts/fuzz.py
