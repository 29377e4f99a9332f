# Taskgate: `make run` serves the site with demo data, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
HOST ?= 127.0.0.1
PORT ?= 8000
SIGNING_KEY := .dev/oidc-signing-key.pem

.PHONY: help run install test test-system lint format check-deploy bench clean

help:
	@echo "make run    set up and serve http://$(HOST):$(PORT) with SQLite and demo data"
	@echo "make test   ruff, then the whole test suite"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make format ruff format and fix"
	@echo "make bench  Taskgate beside oidc-provider and a bare view (DATABASE_URL: the database it may fill)"

# uv comes from pip when it is missing; it then installs Python packages from uv.lock.
.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# Test tools from the npm registry at the versions in package-lock.json
# (node_modules/ is git-ignored): axe-core, which the browser tests inject into
# pages, and the MCP Apps AppBridge with esbuild for the task board's tests.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: .venv/.installed node_modules/.installed

# A development signing key and a .env, made once and git-ignored.
$(SIGNING_KEY): | .venv/.installed
	@mkdir -p .dev
	DJANGO_DEBUG=1 DJANGO_ENV_FILE= $(RUN) python manage.py create_signing_key $(SIGNING_KEY)

.env: | $(SIGNING_KEY)
	@echo "Writing .env for development (DJANGO_DEBUG=1, a random secret key, the dev signing key)"
	@printf 'DJANGO_DEBUG=1\nDJANGO_SECRET_KEY=%s\nOIDC_RSA_PRIVATE_KEY_FILE=%s\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" "$(SIGNING_KEY)" > .env

# Only Python is needed to serve the site; npm is for the browser tests.
run: .venv/.installed .env
	$(RUN) python manage.py migrate --noinput
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(RUN) python manage.py setup_demo
	@echo "Serving http://$(HOST):$(PORT) (Ctrl-C to stop)"
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(RUN) python -m config.serve --host $(HOST) --port $(PORT)

lint: .venv/.installed
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: .venv/.installed
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

# The test host page of the task board's browser tests bundles the official
# MCP Apps AppBridge; Node serves nothing (tasks/widget/ is inlined by Python).
.build/app-bridge.js: node_modules/.installed tests/e2e/widget_host/bridge-entry.js
	@mkdir -p .build
	npx --no-install esbuild tests/e2e/widget_host/bridge-entry.js --bundle --format=iife --minify --log-level=warning --outfile=$@

# What the tests need beyond Python, installed when missing (Debian's packages;
# needs root, as on the CI machine): chromium for the browser tests (Playwright
# drives it; no browser download), Node and npm for axe-core and the task
# board's AppBridge, and a Redis on 127.0.0.1:6379 for the rate-limit tests
# (started when none answers). tests/test_make_test_system.py runs it on stubs.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
REDIS_PORT ?= 6379
REDIS_ANSWERS := $(PYTHON) -c "import socket; socket.create_connection(('127.0.0.1', $(REDIS_PORT)), 1)" 2>/dev/null
test-system:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	$(REDIS_ANSWERS) || command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "Installing what the tests need:$$missing (Debian)"; \
		{ apt-get update -qq && $(APT_INSTALL) $$missing >/dev/null; } || \
		{ echo "Could not install$$missing: install them (apt-get install$$missing), then run make test again." >&2; exit 1; }; \
	fi
	@$(REDIS_ANSWERS) || \
		{ echo "Starting Redis on 127.0.0.1:$(REDIS_PORT) for the rate-limit tests"; \
		  redis-server --daemonize yes --bind 127.0.0.1 --port $(REDIS_PORT) --save "" --appendonly no >/dev/null; }

test: test-system lint .build/app-bridge.js
	$(RUN) pytest $(PYTEST_ARGS)

# The benchmark (benchmarks/README.md), not part of `make test`: wrk from
# Debian's packages, the peer (oidc-provider) from the npm registry at the
# versions in benchmarks/peer/package-lock.json, and the chart's Python
# packages (the `bench` group). DATABASE_URL names a database it may fill;
# unset, it measures on SQLite and says so. BENCH_ARGS="--quick" and the
# like go to benchmarks/run.py.
bench: .venv/.installed
	@command -v wrk >/dev/null 2>&1 || { echo "Installing wrk (Debian)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }
	npm ci --prefix benchmarks/peer --no-audit --no-fund --loglevel=error
	$(UV) run --frozen --group bench python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf .venv node_modules .build staticfiles .pytest_cache .ruff_cache test-artifacts .bench benchmarks/peer/node_modules
