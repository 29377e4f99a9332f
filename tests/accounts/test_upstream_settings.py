"""UPSTREAM_OIDC_* variables: read once in config/settings.py, and a bad shape stops start-up with a sentence."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.live import BASE_DIR

SETTINGS = str(BASE_DIR / "config" / "settings.py")
AXES_BACKEND = "axes.backends.AxesStandaloneBackend"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
UPSTREAM_BACKEND = "accounts.upstream.UpstreamOIDCBackend"
CONFIGURED = {
    "UPSTREAM_OIDC_ISSUER": "https://acme.eu.auth0.com/",
    "UPSTREAM_OIDC_CLIENT_ID": "abc",
    "UPSTREAM_OIDC_CLIENT_SECRET": "xyz",
}


@pytest.fixture
def load_settings(monkeypatch):
    """Run config/settings.py afresh with the given UPSTREAM_OIDC_* variables; return its names."""
    for name in list(os.environ):
        if name.startswith("UPSTREAM_OIDC_"):
            monkeypatch.delenv(name)

    def load(**variables: str) -> dict:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(SETTINGS)

    return load


def test_without_upstream_variables_only_passwords_log_in(load_settings):
    names = load_settings()

    assert names["UPSTREAM_OIDC_ISSUER"] == ""
    assert names["AUTHENTICATION_BACKENDS"] == [AXES_BACKEND, MODEL_BACKEND]


def test_upstream_variables_add_the_upstream_backend_with_safe_defaults(load_settings):
    names = load_settings(**CONFIGURED)

    assert names["AUTHENTICATION_BACKENDS"] == [AXES_BACKEND, MODEL_BACKEND, UPSTREAM_BACKEND]
    assert names["UPSTREAM_OIDC_NAME"] == "acme.eu.auth0.com"
    assert names["OIDC_RP_SCOPES"] == "openid email profile"
    assert (names["OIDC_RP_SIGN_ALGO"], names["OIDC_USE_PKCE"], names["OIDC_USE_NONCE"]) == ("RS256", True, True)
    assert names["OIDC_TOKEN_USE_BASIC_AUTH"] is True
    assert names["UPSTREAM_OIDC_CREATE_USERS"] is True
    assert names["UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL"] is False


def test_upstream_only_removes_the_password_backend(load_settings):
    names = load_settings(**CONFIGURED, UPSTREAM_OIDC_ONLY="1", UPSTREAM_OIDC_NAME="Acme")

    assert names["AUTHENTICATION_BACKENDS"] == [AXES_BACKEND, UPSTREAM_BACKEND]
    assert names["UPSTREAM_OIDC_NAME"] == "Acme"


@pytest.mark.parametrize(
    ("variables", "sentence"),
    [
        ({"UPSTREAM_OIDC_CLIENT_ID": "abc"}, "UPSTREAM_OIDC_ISSUER is not set, but other UPSTREAM_OIDC_* variables"),
        ({"UPSTREAM_OIDC_ONLY": "1"}, "UPSTREAM_OIDC_ISSUER is not set, but other UPSTREAM_OIDC_* variables"),
        ({**CONFIGURED, "UPSTREAM_OIDC_ISSUER": "acme.eu.auth0.com"}, "UPSTREAM_OIDC_ISSUER must be the upstream's"),
        ({**CONFIGURED, "UPSTREAM_OIDC_ISSUER": "http://idp.example.com"}, "UPSTREAM_OIDC_ISSUER must use https"),
        (
            {**CONFIGURED, "UPSTREAM_OIDC_CLIENT_SECRET": ""},
            "Set UPSTREAM_OIDC_CLIENT_ID and UPSTREAM_OIDC_CLIENT_SECRET",
        ),
        ({**CONFIGURED, "UPSTREAM_OIDC_SCOPES": "email profile"}, "UPSTREAM_OIDC_SCOPES must include openid"),
        (
            {**CONFIGURED, "UPSTREAM_OIDC_TOKEN_AUTH_METHOD": "private_key_jwt"},
            "UPSTREAM_OIDC_TOKEN_AUTH_METHOD must be",
        ),
    ],
)
def test_a_bad_upstream_configuration_stops_start_up_with_a_sentence(load_settings, variables, sentence):
    with pytest.raises(ImproperlyConfigured, match=sentence.replace("*", r"\*")):
        load_settings(**variables)


def test_manage_py_reports_a_bad_upstream_configuration_and_exits(load_settings):
    env = {**os.environ, "UPSTREAM_OIDC_ISSUER": "http://idp.example.com", "UPSTREAM_OIDC_CLIENT_ID": "a"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert (
        "UPSTREAM_OIDC_ISSUER must use https (http is allowed only on 127.0.0.1, [::1] or localhost)." in result.stderr
    )
