"""The access log: method, path, status and time, never a query string or an emailed link's token."""

from __future__ import annotations

import logging
import secrets
import time
from http import HTTPStatus

import pytest
import requests

from config.access_log import REDACTED, RedactSecrets, redact_path


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/accounts/upstream/callback/?code=abc&state=xyz", f"/accounts/upstream/callback/?{REDACTED}"),
        ("/idp?client_id=x&code_challenge=y", f"/idp?{REDACTED}"),
        ("/accounts/verify-email/eyJzdWIi:1tk:abc/", f"/accounts/verify-email/{REDACTED}/"),
        ("/accounts/email/change/eyJzdWIi:1tk:abc/", f"/accounts/email/change/{REDACTED}/"),
        ("/accounts/reset/MQ/cx1-2f3a/", f"/accounts/reset/{REDACTED}/{REDACTED}/"),
        ("/accounts/reset/done/", "/accounts/reset/done/"),
        ("/accounts/email/change/", "/accounts/email/change/"),
        ("/api/tasks", "/api/tasks"),
    ],
)
def test_query_strings_and_link_tokens_are_redacted(path, logged):
    assert redact_path(path) == logged


def test_granian_and_uvicorn_records_are_both_redacted():
    granian = logging.LogRecord("granian.access", logging.INFO, "", 0, "%(path)s %(query_string)s", None, None)
    granian.args = {"path": "/accounts/verify-email/secret-token/", "query_string": "code=abc", "status": 200}
    uvicorn = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/cb?code=abc", "1.1", 200),
        None,
    )

    RedactSecrets().filter(granian)
    RedactSecrets().filter(uvicorn)

    assert granian.getMessage() == f"/accounts/verify-email/{REDACTED}/ {REDACTED}"
    assert "abc" not in uvicorn.getMessage()


@pytest.mark.live
def test_the_live_servers_access_log_has_each_request_without_its_secrets(live_server):
    code, token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    start = live_server.log_path.stat().st_size

    requests.get(f"{live_server.url}/accounts/upstream/callback/?code={code}&state=s", timeout=10)
    requests.get(f"{live_server.url}/accounts/verify-email/{token}/", timeout=10)
    response = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == HTTPStatus.OK

    deadline = time.monotonic() + 10
    logged = ""
    while time.monotonic() < deadline and "/.well-known/openid-configuration" not in logged:
        time.sleep(0.1)
        with live_server.log_path.open(errors="replace") as log:
            log.seek(start)
            logged = log.read()
    assert '"GET /.well-known/openid-configuration HTTP/1.1" 200' in logged
    assert f"/accounts/verify-email/{REDACTED}/" in logged
    assert code not in logged
    assert token not in logged
