# pbxctl — two commands on a fresh Debian machine:
#   make demo   set up everything and show pbxctl running a real Asterisk
#   make test   run the whole test suite (unit, SQLite + PostgreSQL, sandbox Asterisk)

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SANDBOX  := scripts/sandbox.sh

.PHONY: demo test unit lint bench browser sandbox sandbox-start sandbox-stop check-postgres clean help

help:
	@echo "make demo   - a company on a real (sandboxed) Asterisk, with a call between branches"
	@echo "make test   - every test: unit, CLI on SQLite and PostgreSQL, integration on Asterisk"
	@echo "make lint   - ruff and mypy (strict)"
	@echo "make bench  - 1M CDRs in several shapes: import and re-rate vs COPY, report, memory"
	@echo "              (quick: make bench BENCH_ARGS='--rows 20000 --rows-big 40000 --skip-live')"
	@echo "make sandbox / sandbox-start / sandbox-stop - the cached Asterisk 22 chroot"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3 is missing: apt-get install -y python3 python3-venv"; exit 1; }
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -q && apt-get install -y -q python3-venv; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq -e '.[test]'
	touch $@

venv: $(STAMP)

sandbox:
	$(SANDBOX) build

sandbox-start: sandbox
	$(SANDBOX) start

sandbox-stop:
	$(SANDBOX) stop

browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

check-postgres: $(STAMP)
	@$(BIN)/python scripts/check_postgres.py

lint: $(STAMP)
	$(BIN)/ruff check pbxctl tests scripts
	$(BIN)/mypy

# Lint, then the unit tests (xdist) alongside the integration shards, each shard with its
# own sandbox copy in its own network namespace; logs in test-logs/ (scripts/test_all.py).
test: $(STAMP) sandbox browser check-postgres
	$(BIN)/python scripts/test_all.py $(TEST_ARGS)

bench: $(STAMP) check-postgres
	$(BIN)/python scripts/bench/run.py $(BENCH_ARGS)

unit: $(STAMP)
	$(BIN)/pytest -m 'not integration'

demo: $(STAMP) sandbox
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache pbxctl.db demo test-logs
