"""Start-up: safe defaults, and one clear sentence for each missing or bad variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OIDC_", "SITE"))}
    environment.update({"DJANGO_ENV_FILE": "", "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> str:
    from idp.keys import write_rsa_key

    path = tmp_path_factory.mktemp("keys") / "key.pem"
    write_rsa_key(str(path))
    return str(path)


def test_without_a_secret_key_start_up_stops_with_a_sentence_naming_it(key_file):
    result = manage("check", OIDC_RSA_PRIVATE_KEY_FILE=key_file)

    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_without_a_signing_key_start_up_stops_with_a_sentence_naming_it():
    result = manage("check", DJANGO_SECRET_KEY="x" * 50)

    assert result.returncode != 0
    assert "Set OIDC_RSA_PRIVATE_KEY" in result.stderr


def test_postgresql_prepares_what_a_connection_runs_often_unless_told_not_to(key_file):
    """Server-side binding and psycopg's prepare_threshold, which Django leaves off (finding 11)."""
    show = (
        "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS'];"
        "print(o.get('server_side_binding'), o.get('prepare_threshold'))"
    )
    environment = {"DJANGO_SECRET_KEY": "x" * 50, "OIDC_RSA_PRIVATE_KEY_FILE": key_file}
    shell = ("shell", "--no-imports", "-c", show)

    default = manage(*shell, DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", **environment)
    off = manage(
        *shell, DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", DATABASE_PREPARED_STATEMENTS="0", **environment
    )
    sqlite = manage(*shell, DATABASE_URL="sqlite:///x.sqlite3", **environment)

    assert default.stdout.split() == ["True", "5"], default.stderr
    assert off.stdout.split() == ["None", "None"], off.stderr
    assert sqlite.stdout.split() == ["None", "None"], sqlite.stderr


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"SITE_URL": "ftp://example.com"}, "SITE_URL must be an origin"),
        ({"SITE_URL": "https://example.com/path"}, "SITE_URL must be an origin"),
        ({"OIDC_RSA_PRIVATE_KEY": "not a key"}, "must be an unencrypted RSA private key"),
        ({"DATABASE_URL": "nosuchdb://x"}, "nosuchdb"),
        ({"AXES_FAILURE_LIMIT": "five"}, "AXES_FAILURE_LIMIT must be a whole number of at least 1; got 'five'."),
        ({"AXES_FAILURE_LIMIT": "0"}, "AXES_FAILURE_LIMIT must be a whole number of at least 1"),
        ({"ACTIVITY_RETENTION_DAYS": "ninety"}, "ACTIVITY_RETENTION_DAYS must be a whole number of at least 1"),
        ({"ACTIVITY_RETENTION_DAYS": "0"}, "ACTIVITY_RETENTION_DAYS must be a whole number of at least 1; got '0'."),
        ({"ACTIVITY_FLUSH_SECONDS": "-5"}, "ACTIVITY_FLUSH_SECONDS must be a whole number of at least 0"),
        ({"ACTIVITY_COUNTING": "maybe"}, "ACTIVITY_COUNTING must be 1 or 0; got 'maybe'."),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x", "DATABASE_POOL_MAX_SIZE": "-1"},
            "DATABASE_POOL_MAX_SIZE must be a whole number of at least 0",
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x", "DATABASE_CONN_MAX_AGE": "60"},
            "DATABASE_CONN_MAX_AGE must be 0 with the connection pool",
        ),
    ],
)
def test_a_bad_variable_stops_start_up_with_a_sentence(key_file, env, sentence):
    result = manage("check", DJANGO_SECRET_KEY="x" * 50, OIDC_RSA_PRIVATE_KEY_FILE=key_file, **env)

    assert result.returncode != 0
    assert sentence in result.stderr


def test_an_unreadable_signing_key_file_stops_start_up_with_a_sentence():
    result = manage("check", DJANGO_SECRET_KEY="x" * 50, OIDC_RSA_PRIVATE_KEY_FILE="/nonexistent/key.pem")

    assert result.returncode != 0
    assert "OIDC_RSA_PRIVATE_KEY_FILE names '/nonexistent/key.pem', which cannot be read" in result.stderr


def test_debug_is_off_unless_asked_for(key_file):
    result = manage(
        "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.DEBUG)",
        DJANGO_SECRET_KEY="x" * 50, OIDC_RSA_PRIVATE_KEY_FILE=key_file,
    )  # fmt: skip

    assert result.stdout.strip() == "False"


def test_check_deploy_passes_with_a_production_environment(key_file):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SECRET_KEY="k" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-",
        OIDC_RSA_PRIVATE_KEY_FILE=key_file,
        SITE_URL="https://tasks.example.com",
        DATABASE_URL="sqlite:///:memory:",
        EMAIL_URL="smtp+tls://mailer:password@smtp.example.com:587",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr + result.stdout


def test_a_production_environment_has_secure_cookies_and_our_csrf_middleware(key_file):
    code = (
        "from django.conf import settings as s; "
        "print(s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_SECURE, "
        "'config.middleware.NoReferrerCsrfViewMiddleware' in s.MIDDLEWARE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)"
    )
    result = manage(
        "shell", "--no-imports", "-c", code,
        DJANGO_SECRET_KEY="x" * 50, OIDC_RSA_PRIVATE_KEY_FILE=key_file, SITE_URL="https://tasks.example.com",
    )  # fmt: skip

    assert result.stdout.split() == ["True", "True", "True", "True", "31536000"]


def test_postgresql_gets_a_connection_pool_per_worker_sized_by_its_variables(key_file):
    """Each worker keeps at most DATABASE_POOL_MAX_SIZE connections, open between requests (issue 7)."""
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('pool'))"
    environment = {"DJANGO_SECRET_KEY": "x" * 50, "OIDC_RSA_PRIVATE_KEY_FILE": key_file}
    postgres = "postgres://postgres@127.0.0.1:5432/x"

    shell = ("shell", "--no-imports", "-c", show)

    default = manage(*shell, DATABASE_URL=postgres, **environment)
    sized = manage(*shell, DATABASE_URL=postgres, DATABASE_POOL_MAX_SIZE="4", **environment)
    off = manage(*shell, DATABASE_URL=postgres, DATABASE_POOL_MAX_SIZE="0", **environment)

    assert default.stdout.strip() == "{'min_size': 2, 'max_size': 10, 'timeout': 20}", default.stderr
    assert sized.stdout.strip() == "{'min_size': 2, 'max_size': 4, 'timeout': 20}", sized.stderr
    assert off.stdout.strip() == "None", off.stderr


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"SITE_URL": "https://tasks.example.com"}, "Set DJANGO_SECRET_KEY"),
        ({"SITE_URL": "https://tasks.example.com", "DJANGO_SECRET_KEY": "x" * 50}, "OIDC_RSA_PRIVATE_KEY"),
        ({"DJANGO_DEBUG": "1", "SITE_URL": "tasks.example.com"}, "SITE_URL must be an origin"),
        ({"DJANGO_DEBUG": "1", "IDP_REFRESH_RETRY_SECONDS": "five"}, "IDP_REFRESH_RETRY_SECONDS must be a whole"),
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["check"], ["shell", "-c", "print(1)"]])
def test_a_refused_setting_is_one_sentence_on_stderr_for_any_command_with_no_traceback(command, env, sentence):
    result = manage(*command, **env)

    assert result.returncode == 2
    assert result.stderr.strip().startswith("Taskgate cannot start:")
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_asgi_server_stops_with_the_sentence_and_no_traceback():
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OIDC_", "SITE"))}
    environment.update({"DJANGO_ENV_FILE": "", "SITE_URL": "https://tasks.example.com"})
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", "0"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Taskgate cannot start: Set DJANGO_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_version_named_to_clients_is_pyprojects():
    import tomllib

    from config import __version__

    assert __version__ == tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
