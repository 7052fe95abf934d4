# The whole set-up on a fresh machine is `make run` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Serving needs the package alone; lint and tests need the development extras.
RUN_STAMP := $(VENV)/.run-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# `make run` serves one directory while `make demo` replays the journey from scratch in
# another: a fresh demo never deletes the ledger a running gateway serves.
RUN_DIR ?= var/demo
DEMO_DIR ?= var/journey

.PHONY: run demo test lint postgres browser nginx reformat bench bench-verify bench-http bench-claims bench-remote up fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/ledger-gw serve --demo --dir $(RUN_DIR)

demo: $(RUN_STAMP)
	$(BIN)/ledger-gw demo --dir $(DEMO_DIR) --fresh

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint postgres browser nginx
	$(BIN)/pytest

# The off-chain store is also tested on a real PostgreSQL that the tests start
# themselves: install the server when it is missing and we may (root, apt).
postgres:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } || \
	  echo "PostgreSQL is not installed: its tests will be skipped"

# The dashboard is tested in Debian's own headless Chromium and its driver, never a
# downloaded browser: install them when missing and we may (root, apt).
browser:
	@{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } || \
	  echo "chromium is not installed: the browser tests will be skipped"

# The reverse proxy's configuration (deploy/nginx/gateways.conf) is tested in Debian's
# nginx in front of a real gateway: install it when missing and we may (root, apt).
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; } || \
	  echo "nginx is not installed: its tests will be skipped"

reformat: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# With LEDGER_GW_BENCH_PG (a PostgreSQL URL, or `local` for a throwaway server), the
# same appends also run on SQLite and on PostgreSQL side by side.
bench: $(DEV_STAMP)
	$(BIN)/python bench/ledger_sizes.py
	$(BIN)/python bench/ledger_append.py
	@if [ -n "$$LEDGER_GW_BENCH_PG" ]; then $(BIN)/python bench/postgres_append.py; fi

bench-verify: $(DEV_STAMP)
	$(BIN)/python bench/verify_full.py

bench-http: $(DEV_STAMP)
	$(BIN)/python bench/http_gateway.py

bench-claims: $(DEV_STAMP)
	$(BIN)/python bench/claim_bundles.py

bench-remote: $(DEV_STAMP)
	$(BIN)/python bench/remote_batches.py

# The embedded topology as processes: a log node, every agency's gateway, two witnesses.
up: $(RUN_STAMP)
	$(BIN)/ledger-gw consortium up --dir var/embedded

# Schemathesis over the whole OpenAPI with every demo role (bounded in time; not part of
# `make test`): no 5xx and no answer outside its schema.
fuzz: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet 'schemathesis>=4'
	BIN=$(BIN) scripts/fuzz-api.sh

# Fabric: FABRIC_HOME must name the Fabric 2.5 release layout (see network/README.md).
fabric-up: $(DEV_STAMP)
	network/network.sh up

fabric-down:
	network/network.sh down

demo-fabric: $(DEV_STAMP)
	$(BIN)/ledger-gw demo --backend fabric

bench-fabric: $(DEV_STAMP)
	$(BIN)/python bench/fabric_submit.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
