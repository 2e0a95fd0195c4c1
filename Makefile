# Two commands do all set-up on a fresh machine:
#   make demo   - install, write a demo history (if the database is empty) and serve the dashboard
#   make install && .venv/bin/pytest -n 2 --dist loadgroup -q
#               - install (Chromium from Debian included), then run the whole test suite
#                 (`make test` is the same in one word)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PORT ?= 8000
# Optional: your own reports to ingest before serving, e.g. make demo REPORTS="junit-*.xml" PROJECT=shop
REPORTS ?=
PROJECT ?= my-project

.PHONY: demo install test lint bench

$(BIN)/.installed: pyproject.toml deploy/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The runtime dependencies at the versions the Docker image ships (deploy/constraints.txt), so the
	# tests run what is deployed; test-only tools float within pyproject's ranges.
	$(BIN)/pip install -q -e '.[test]' -c deploy/constraints.txt
	touch $@

/usr/bin/chromium:
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

install: $(BIN)/.installed /usr/bin/chromium

demo: $(BIN)/.installed
	$(if $(REPORTS),$(BIN)/suitehealth ingest $(REPORTS) --project $(PROJECT))
	$(BIN)/suitehealth demo --serve --port $(PORT)

test: install
	$(BIN)/pytest -n 2 --dist loadgroup -q

lint: $(BIN)/.installed
	$(BIN)/ruff check ingest dashboard tests benchmarks

bench: $(BIN)/.installed
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done
