# ReserveX: `make run` to run it, `make test` to test it. Both need only Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test manage lint format typecheck bench loadtest chaos multinode test-pgbouncer clean

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(INSTALLED)

run: $(INSTALLED)
	$(PY) -m reservex.devstack run

test: $(INSTALLED)
	$(PY) -m reservex.devstack test

# Any manage.py command with the services' environment (embedded ones started and stopped around it):
# make manage ARGS="check_integrity"
manage: $(INSTALLED)
	$(PY) -m reservex.devstack exec $(PY) manage.py $(ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(INSTALLED)
	$(PY) -m bench.planner --out docs/bench.md
	$(PY) -m reservex.devstack exec $(PY) -m bench.availability --out docs/bench.md
	$(PY) -m reservex.devstack exec $(PY) -m bench.reseating --out docs/bench.md

# Seed a fresh reservex_load database, serve it like production (gunicorn gthread + Celery, DEBUG off,
# throttles raised), check integrity, run the Locust scenarios against 127.0.0.1, check again and
# write docs/load/REPORT.md. About 4 minutes; LOADTEST_URL=http://127.0.0.1:PORT uses a running stack.
loadtest: $(INSTALLED)
	$(PY) -m locustfiles.run

# Faults under booking traffic on a private PostgreSQL cluster and redis-server (never the machine's):
# worker SIGKILL, Redis down, Postgres restart, gunicorn worker SIGKILL; exits 1 if a booking was
# lost or duplicated, a guest got a 500 or no answer, or integrity broke. About 80 s (60 s of traffic);
# CHAOS_ARGS=--short is the CI form (20 s of traffic, about a minute). docs/reliability.md has a run.
chaos: $(INSTALLED)
	$(PY) -m reservex.chaos $(CHAOS_ARGS)

# Two web nodes (gunicorn masters on their own ports) and two Celery workers on one Postgres, reached
# through a private PgBouncer in transaction mode, and one private Redis: a 1 000-guest hot slot and a
# widget swarm on one node, then split over both; invariants checked; docs/load/MULTINODE.md. ~2 min.
# Needs a TCP DATABASE_URL (postgres://…@127.0.0.1:5432/…) and Debian's pgbouncer.
multinode: $(INSTALLED)
	$(PY) -m locustfiles.multinode

# The concurrency tests through a private PgBouncer in transaction mode (needs Debian's pgbouncer and a
# TCP DATABASE_URL; .ci/run runs this). About a minute.
test-pgbouncer: $(INSTALLED)
	.ci/pgbouncer-tests

clean:
	rm -rf .reservex .pytest_cache .mypy_cache .ruff_cache
