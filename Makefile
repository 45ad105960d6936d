# The user's commands. Each installs what it needs into .venv (only Python 3.11+ and pip
# are assumed), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every package under services/ is a member, found by its pyproject.toml (a new connector
# package needs no edit here); inbox-core comes first, with its extras.
SERVICES := $(sort $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml)))
MEMBERS := libs/inbox-core $(SERVICES)
PYPROJECTS := $(addsuffix /pyproject.toml,$(MEMBERS)) requirements-dev.txt
PYTEST_ARGS ?=
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip config names local mirrors that may be absent; their warnings are noise.
QUIET_PIP := { grep -v "^WARNING: Location" || true; }

.PHONY: install system-deps up demo test test-unit test-e2e bench soak lint fmt clean asyncapi

install: $(STAMP)

# Debian packages the tests drive as real peers: dovecot (IMAP) and Chromium with Korean
# fonts (console tests).
# Installed only when missing, and only where we may (root, as on CI); otherwise named.
SYSTEM_BINARIES := dovecot:dovecot-imapd chromium:chromium openssl:openssl
system-deps:
	@missing=""; for pair in $(SYSTEM_BINARIES); do \
		bin=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v $$bin >/dev/null 2>&1 || test -x /usr/sbin/$$bin || missing="$$missing $$pkg"; \
	done; \
	fc-list :lang=ko 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing system packages:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
		fi; \
	fi

$(STAMP): $(PYPROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-e 'libs/inbox-core[embedded,testing]' \
		$(foreach m,$(SERVICES),-e $(m)) \
		-r requirements-dev.txt 2>&1 | $(QUIET_PIP)
	@touch $(STAMP)

# make up REPLICAS=router=3,notifier=2 runs several replicas (also INBOX_REPLICAS).
REPLICAS ?=
up: install
	$(BIN)/inbox-stack $(if $(REPLICAS),--replicas $(REPLICAS))

demo: install
	$(BIN)/inbox-stack --demo

# Unit and service tests run on two workers (each file on one worker); the whole-stack
# tests (marked e2e: tests/e2e, tests/faults) run alone, so their timings stay honest.
test: install system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not e2e" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

test-unit: install system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not e2e" $(PYTEST_ARGS)

test-e2e: install system-deps
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_bench.py

# Ten minutes of steady traffic; prints RSS of every process over time.
soak: install
	$(BIN)/python bench/run_bench.py --soak 600 --soak-rate 5

# The bus contract for connectors in any language, generated from inbox_core.schema.
asyncapi: install
	$(BIN)/python -m inbox_core.asyncapi --write docs/asyncapi.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/inbox-core/src services/*/src

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
