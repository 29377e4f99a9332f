"""No token, code, secret or password in any log line: a whole flow, then a scan of every log it wrote.

RFC 9700 §4.14 and RFC 6819 §5.1.4.1 / §5.1.6: credentials must not leak
through logs. The flow runs against the live server (its log file) and in
this process (captured at DEBUG, with the levels config.settings sets for
oauthlib and DOT), with failures on purpose:
a wrong password, a wrong client secret, a replayed code, a reused refresh
token.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
import requests

from tests.fixtures import pkce_pair
from tests.oauth_flow import basic, exchange, obtain_code
from tests.people import answer_consent, log_in

pytestmark = pytest.mark.live


def scan(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


def test_a_whole_flow_with_failures_leaves_no_credential_in_the_live_servers_log(
    live_server, user, password, application
):
    secrets: dict[str, str] = {"password": password, "client secret": application.client_secret_plain}
    wrong_secret = "wrong-secret-" + "z" * 40
    secrets["wrong client secret"] = wrong_secret
    wrong_password = "Wrong password 77 for the log scan"
    secrets["wrong password"] = wrong_password
    start = live_server.log_path.stat().st_size if live_server.log_path.exists() else 0
    token_url = f"{live_server.url}/idp/token"
    auth = (application.client_id, application.client_secret_plain)

    session = requests.Session()
    assert log_in(session, live_server.url, user.email, wrong_password).status_code == HTTPStatus.OK
    assert log_in(session, live_server.url, user.email, password).status_code == HTTPStatus.FOUND
    verifier, challenge = pkce_pair()
    secrets["code verifier"] = verifier
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": application.redirect_uri_list()[0],
            "scope": "openid email tasks:read",
            "state": "log-scan-state",
            "nonce": "log-scan-nonce",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    params = answer_consent(session, f"{live_server.url}/idp?{query}")
    code = secrets["code"] = params["code"]
    code_request = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": application.redirect_uri_list()[0],
        "code_verifier": verifier,
    }
    tokens = requests.post(token_url, data=code_request, auth=auth, timeout=30).json()
    secrets.update(
        {
            "access token": tokens["access_token"],
            "refresh token": tokens["refresh_token"],
            "id token": tokens["id_token"],
        }
    )
    # Failures, each of which a careless log line would print.
    assert requests.post(token_url, data=code_request, auth=auth, timeout=30).status_code == HTTPStatus.BAD_REQUEST
    wrong = requests.post(token_url, data=code_request, auth=(application.client_id, wrong_secret), timeout=30)
    assert wrong.status_code == HTTPStatus.UNAUTHORIZED
    refreshed = requests.post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, auth=auth, timeout=30
    ).json()
    requests.post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, auth=auth, timeout=30
    )
    secrets["rotated refresh token"] = refreshed.get("refresh_token", "")
    secrets["rotated access token"] = refreshed.get("access_token", "")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    requests.get(f"{live_server.url}/idp/userinfo", headers=headers, timeout=10)
    requests.get(f"{live_server.url}/idp/userinfo", params={"access_token": tokens["access_token"]}, timeout=10)
    requests.get(f"{live_server.url}/api/tasks", headers=headers, timeout=10)
    requests.post(f"{live_server.url}/idp/introspect", data={"token": tokens["access_token"]}, auth=auth, timeout=10)
    requests.post(f"{live_server.url}/idp/revoke", data={"token": tokens["access_token"]}, auth=auth, timeout=10)
    requests.get(f"{live_server.url}/api/tasks", headers=headers, timeout=10)

    written = live_server.log_path.read_bytes()[start:].decode(errors="replace")
    assert written.strip(), "the flow wrote nothing to the log: the scan would prove nothing"
    assert scan(written, secrets) == []


def test_in_process_logs_at_debug_carry_no_credential(logged_in_client, client, application, caplog):
    caplog.set_level(logging.DEBUG)
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    tokens = exchange(logged_in_client, application, code, verifier).json()
    exchange(logged_in_client, application, code, verifier)  # replayed
    client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application, "not-the-secret-at-all"),
    )
    client.post("/idp/revoke", {"token": tokens["refresh_token"]}, HTTP_AUTHORIZATION=basic(application))
    secrets = {
        "client secret": application.client_secret_plain,
        "wrong secret": "not-the-secret-at-all",
        "code": code,
        "code verifier": verifier,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "id token": tokens["id_token"],
    }

    logged = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    assert caplog.records, "nothing was logged: the scan would prove nothing"
    assert scan(logged, secrets) == []


@pytest.fixture(scope="module")
def debug_server(django_db_setup, django_db_blocker, workdir):
    """A live server with every logger at DEBUG (DJANGO_LOG_LEVEL) and its access log on."""
    from tests.live import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer(
            host="localhost", log_path=workdir / "live-server-debug.log", extra_env={"DJANGO_LOG_LEVEL": "DEBUG"}
        ).start()
    yield server
    server.stop()


def test_registration_mcp_and_refresh_at_debug_leave_no_credential_in_the_log(
    debug_server, transactional_db, user, password
):
    """The MCP client's path (RFC 7591 registration, PKCE with `resource`, /mcp, refresh) with the
    access log and every logger at DEBUG: the log holds none of what the client saw."""
    server = debug_server.url
    start = debug_server.log_path.stat().st_size
    callback = "http://127.0.0.1:33418/callback"
    registered = requests.post(
        f"{server}/idp/register",
        json={"client_name": "Log scan client", "redirect_uris": [callback], "token_endpoint_auth_method": "none"},
        timeout=10,
    ).json()
    secrets: dict[str, str] = {
        "password": password,
        "registration access token": registered["registration_access_token"],
    }
    session = requests.Session()
    log_in(session, server, user.email, "Wrong password for the debug log scan")
    secrets["wrong password"] = "Wrong password for the debug log scan"
    assert log_in(session, server, user.email, password).status_code == HTTPStatus.FOUND
    verifier, challenge = pkce_pair()
    secrets["code verifier"] = verifier
    query = urlencode(
        {
            "response_type": "code",
            "client_id": registered["client_id"],
            "redirect_uri": callback,
            "scope": "tasks:read tasks:write",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": f"{server}/mcp",
        }
    )
    params = answer_consent(session, f"{server}/idp?{query}")
    secrets["code"] = params["code"]
    tokens = requests.post(
        f"{server}/idp/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": callback,
            "code_verifier": verifier,
            "client_id": registered["client_id"],
            "resource": f"{server}/mcp",
        },
        timeout=30,
    ).json()
    secrets.update({"access token": tokens["access_token"], "refresh token": tokens["refresh_token"]})
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}
    mcp_headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    assert requests.post(f"{server}/mcp", json=call, headers=mcp_headers, timeout=30).status_code == HTTPStatus.OK
    refreshed = requests.post(
        f"{server}/idp/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": registered["client_id"],
        },
        timeout=30,
    ).json()
    secrets.update(
        {"rotated access token": refreshed["access_token"], "rotated refresh token": refreshed["refresh_token"]}
    )
    requests.get(f"{server}/idp?{query}&code=not-a-code&state=s", timeout=10)  # secrets in a query string

    written = debug_server.log_path.read_bytes()[start:].decode(errors="replace")
    assert "DEBUG" in written, "nothing logged at DEBUG: the scan would prove little"
    assert '"POST /idp/token HTTP/1.1" 200' in written, "the access log is on"
    assert scan(written, secrets) == []
