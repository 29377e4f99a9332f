# Taskgate: `make run` serves the site with demo data, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
HOST ?= 127.0.0.1
PORT ?= 8000
SIGNING_KEY := .dev/oidc-signing-key.pem

.PHONY: help run install test lint format check-deploy bench clean

help:
	@echo "make run    set up and serve http://$(HOST):$(PORT) with SQLite and demo data"
	@echo "make test   ruff, then the whole test suite"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make format ruff format and fix"

# uv comes from pip when it is missing; it then installs Python packages from uv.lock.
.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# axe-core, which the browser tests inject into pages, from the npm registry at
# the version in package-lock.json (node_modules/ is git-ignored).
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
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(RUN) uvicorn config.asgi:application --host $(HOST) --port $(PORT)

lint: .venv/.installed
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: .venv/.installed
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

test: lint node_modules/.installed
	$(RUN) pytest $(PYTEST_ARGS)

clean:
	rm -rf .venv node_modules staticfiles .pytest_cache .ruff_cache test-artifacts
