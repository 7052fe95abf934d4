# The whole set-up on a fresh machine is `make run` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= var/demo

.PHONY: run demo test lint postgres browser nginx reformat bench bench-http bench-claims fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ledger-gw serve --demo --dir $(DEMO_DIR)

demo: $(STAMP)
	$(BIN)/ledger-gw demo --dir $(DEMO_DIR) --fresh

lint: $(STAMP)
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

reformat: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/ledger_append.py

bench-http: $(STAMP)
	$(BIN)/python bench/http_gateway.py

bench-claims: $(STAMP)
	$(BIN)/python bench/claim_bundles.py

# Schemathesis over the whole OpenAPI with every demo role (bounded in time; not part of
# `make test`): no 5xx and no answer outside its schema.
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet 'schemathesis>=4'
	BIN=$(BIN) scripts/fuzz-api.sh

# Fabric: FABRIC_HOME must name the Fabric 2.5 release layout (see network/README.md).
fabric-up: $(STAMP)
	network/network.sh up

fabric-down:
	network/network.sh down

demo-fabric: $(STAMP)
	$(BIN)/ledger-gw demo --backend fabric

bench-fabric: $(STAMP)
	$(BIN)/python bench/fabric_submit.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
