"""The test environment and the fixtures every test may use."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS = BASE_DIR / "test-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    """Prepare a hermetic environment, then load Django's settings.

    It runs before pytest-django sets Django up (its pytest_configure runs
    last), which is why DJANGO_SETTINGS_MODULE is set here and not in the
    ini: a developer's `.env` is ignored, and the secret key and signing key
    are made for this run and never written to the repository.
    """
    from idp.keys import write_rsa_key

    workdir = Path(tempfile.mkdtemp(prefix="taskgate-tests-"))
    config.stash[WORKDIR] = workdir
    write_rsa_key(str(workdir / "signing-key.pem"))
    os.environ.update(
        {
            "DJANGO_ENV_FILE": "",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "OIDC_RSA_PRIVATE_KEY_FILE": str(workdir / "signing-key.pem"),
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Activity counts are flushed when a test asks (idp.activity.flush), not by a thread.
            "ACTIVITY_FLUSH_SECONDS": "0",
            # This process calls config.wsgi's application in tests: a gc.freeze() here would keep
            # every test's objects for the rest of the run. Live servers (tests/live.py) freeze as served.
            "GC_FREEZE_AFTER_REQUESTS": "0",
        }
    )
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'taskgate.sqlite3'}")
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - load the settings now, so pytest-django sets Django up


def pytest_unconfigure(config: pytest.Config) -> None:
    workdir = config.stash.get(WORKDIR, None)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


WORKDIR = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def workdir(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.stash[WORKDIR]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(workdir: Path) -> None:
    """SQLite's test database is a file, so that a live server process can share it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(workdir / "test-taskgate.sqlite3")


@pytest.fixture(scope="session", autouse=True)
def _static_files() -> None:
    """Production static storage (a manifest) needs collectstatic, as in a deployment."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def _live_server_process(django_db_setup, django_db_blocker, workdir: Path):
    from tests.live import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer(log_path=workdir / "live-server.log").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings) -> None:
    """Every test starts with no rate-limit counters (they live in the per-process cache).

    Only a local-memory cache is cleared: a Redis cache may be shared, and
    tests that use one give it a key prefix of their own (tests/security/test_rate_limits.py).
    """
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_consent_notes() -> None:
    """Every test starts with no "last used" noted in this process (idp.services.consents.consent_mark_used)."""
    from idp.services.consents import consent_forget_noted_uses

    consent_forget_noted_uses()


@pytest.fixture(autouse=True)
def _fresh_activity_counts():
    """Every test starts and ends with no activity counted in this process and not yet flushed."""
    from idp import activity

    activity.forget()
    yield
    activity.forget()


@pytest.fixture(autouse=True)
def _live_server_helper() -> None:
    """Replaces pytest-django's helper of the same name, which expects its own
    `live_server` object (and fails on ours): ours asks for transactional_db itself."""


@pytest.fixture
def live_server(_live_server_process, transactional_db):
    """The production server of this project on a loopback port, sharing the test database.

    Its tests run in committed transactions (transactional_db), so that what
    they create is visible to the server process.
    """
    return _live_server_process


@pytest.fixture(scope="session")
def mcp_portal(_static_files):
    """An event loop in a thread that holds the MCP app's lifespan for the whole run (tests.mcp_http)."""
    from anyio.from_thread import start_blocking_portal

    from config.asgi import mcp_lifespan

    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(mcp_lifespan.router.lifespan_context(mcp_lifespan)):
            yield portal


@pytest.fixture
def mcp(mcp_portal, transactional_db):
    """/mcp and the rest of the site through config.asgi, in this process."""
    from config.asgi import application
    from tests.mcp_http import McpHttp

    return McpHttp(portal=mcp_portal, app=application)


from tests.browser import browser  # noqa: E402,F401 - one browser for the run: see tests/browser.py
from tests.fixtures import *  # noqa: E402,F403 - shared fixtures (user, application, tokens)
