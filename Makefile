# Taskgate: `make run` serves the site with demo data, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
HOST ?= 127.0.0.1
PORT ?= 8000
SIGNING_KEY := .dev/oidc-signing-key.pem

.PHONY: help run install test test-tools lint format check-deploy bench clean

help:
	@echo "make run    set up and serve http://$(HOST):$(PORT) with SQLite and demo data"
	@echo "make test   ruff, then the whole test suite"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make test-tools  the Node tools of the task board's browser tests (Node 20 and npm)"
	@echo "make format ruff format and fix"

# uv comes from pip when it is missing; it then installs Python packages from uv.lock.
.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed

# A development signing key and a .env, made once and git-ignored.
$(SIGNING_KEY): | .venv/.installed
	@mkdir -p .dev
	DJANGO_DEBUG=1 DJANGO_ENV_FILE= $(RUN) python manage.py create_signing_key $(SIGNING_KEY)

.env: | $(SIGNING_KEY)
	@echo "Writing .env for development (DJANGO_DEBUG=1, a random secret key, the dev signing key)"
	@printf 'DJANGO_DEBUG=1\nDJANGO_SECRET_KEY=%s\nOIDC_RSA_PRIVATE_KEY_FILE=%s\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" "$(SIGNING_KEY)" > .env

run: install .env
	$(RUN) python manage.py migrate --noinput
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(RUN) python manage.py setup_demo
	@echo "Serving http://$(HOST):$(PORT) (Ctrl-C to stop)"
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(RUN) uvicorn config.asgi:application --host $(HOST) --port $(PORT)

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

# Node serves nothing: the task board (tasks/widget/) is inlined by Python. Its
# browser tests need the official MCP Apps AppBridge (bundled for the test host
# page) and axe-core, from package-lock.json. Without npm those tests fail
# saying so, and the rest of the suite runs.
NODE_TOOLS := node_modules/.package-lock.json

$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.build/app-bridge.js: $(NODE_TOOLS) tests/e2e/widget_host/bridge-entry.js
	@mkdir -p .build
	npx --no-install esbuild tests/e2e/widget_host/bridge-entry.js --bundle --format=iife --minify --log-level=warning --outfile=$@

test-tools:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory .build/app-bridge.js; \
	else echo "No npm here: the task board's browser tests will fail (they need Node 20 and npm)."; fi

test: lint test-tools
	$(RUN) pytest $(PYTEST_ARGS)

clean:
	rm -rf .venv staticfiles .pytest_cache .ruff_cache test-artifacts node_modules .build
