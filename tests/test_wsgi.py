"""The production entry point, config.wsgi: Django, and /mcp through config.bridge, called as a WSGI server calls it.

The live-server tests (tests/live.py) run the same application under granian;
these call it in this process, one request at a time.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from http import HTTPStatus
from pathlib import Path

import pytest

from config.bridge import AsgiBridge
from tests.fixtures import issue_access_token

ORIGIN = "http://127.0.0.1:8000"
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}


def call(application, method: str, path: str, *, body: bytes = b"", headers: dict | None = None):
    """(status code, headers, body chunks) of one WSGI call."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = int(status.split()[0]), dict(response_headers)

    result = application(environ, start_response)
    chunks = list(result)
    getattr(result, "close", lambda: None)()
    return started["status"], started["headers"], chunks


def rpc(method: str, params: dict | None = None) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()


@pytest.fixture
def wsgi(settings):
    # No token cache listener in the test process: it would hold a connection to the test database.
    settings.IDP_TOKEN_CACHE_SECONDS = 0
    from config.wsgi import application

    return application


@pytest.mark.django_db(transaction=True)
def test_an_mcp_tool_call_through_the_wsgi_application_acts_for_the_tokens_person(wsgi, user, application):
    raw, _ = issue_access_token(
        user=user, application=application, scope="tasks:read tasks:write", resource=[f"{ORIGIN}/mcp"]
    )
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {raw}"}

    created = call(
        wsgi,
        "POST",
        "/mcp",
        body=rpc("tools/call", {"name": "create_task", "arguments": {"title": "Pay rent"}}),
        headers=headers,
    )
    listed = call(
        wsgi, "POST", "/mcp/", body=rpc("tools/call", {"name": "list_tasks", "arguments": {}}), headers=headers
    )

    assert created[0] == HTTPStatus.OK
    assert listed[0] == HTTPStatus.OK
    assert listed[1]["content-type"] == "application/json"
    (body,) = listed[2]
    tasks = json.loads(body)["result"]["structuredContent"]["tasks"]
    assert [task["title"] for task in tasks] == ["Pay rent"]


@pytest.mark.django_db(transaction=True)
def test_mcp_without_a_token_gets_its_401_challenge_through_the_wsgi_application(wsgi):
    status, headers, chunks = call(wsgi, "POST", "/mcp", body=rpc("tools/list"), headers=MCP_HEADERS)

    assert status == HTTPStatus.UNAUTHORIZED
    assert headers["www-authenticate"].startswith('Bearer resource_metadata="')
    assert json.loads(b"".join(chunks))["error"] == "unauthorized"


@pytest.mark.django_db
def test_the_rest_of_the_site_is_djangos(wsgi):
    status, headers, chunks = call(wsgi, "GET", "/.well-known/openid-configuration")

    assert status == HTTPStatus.OK
    assert json.loads(b"".join(chunks))["issuer"] == ORIGIN


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read():
    seen = []
    bridge = AsgiBridge(_streaming_app([b"x"], seen), lifespan=_lifespan_app(), max_body=10)

    status, _, chunks = call(bridge, "POST", "/mcp", body=b"x" * 11)

    assert status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert seen == [], "the app never saw it"


def _lifespan_app(events: list | None = None):
    async def app(scope, receive, send):
        message = await receive()
        if events is not None:
            events.append(message["type"])
        await send({"type": "lifespan.startup.complete"})

    return app


def _streaming_app(parts: list[bytes], seen: list | None = None):
    async def app(scope, receive, send):
        request = await receive()
        if seen is not None:
            seen.append((scope["method"], scope["path"], request["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for number, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": number < len(parts) - 1})

    return app


def test_the_bridge_starts_the_apps_lifespan_once_and_passes_a_streamed_answer_on_in_chunks():
    events, seen = [], []
    bridge = AsgiBridge(
        _streaming_app([b"one ", b"two ", b"three"], seen), lifespan=_lifespan_app(events), max_body=100
    )

    first = call(bridge, "POST", "/stream", body=b"hello")
    second = call(bridge, "GET", "/stream")

    assert first == (HTTPStatus.OK, {"content-type": "text/plain"}, [b"one ", b"two ", b"three"])
    assert second[2] == [b"one ", b"two ", b"three"]
    assert seen == [("POST", "/stream", b"hello"), ("GET", "/stream", b"")]
    assert events == ["lifespan.startup"]


def test_the_bridge_answers_500_when_the_app_sends_nothing():
    async def silent(scope, receive, send):
        await receive()

    bridge = AsgiBridge(silent, lifespan=_lifespan_app(), max_body=100)

    status, _, chunks = call(bridge, "GET", "/")

    assert status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_an_error_of_the_app_reaches_the_server():
    async def failing(scope, receive, send):
        raise LookupError("broken")

    bridge = AsgiBridge(failing, lifespan=_lifespan_app(), max_body=100)

    with pytest.raises(LookupError, match="broken"):
        call(bridge, "GET", "/")


def test_a_streaming_app_learns_that_the_client_went_away():
    told = []
    done = threading.Event()

    async def endless(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        told.append(await receive())
        done.set()

    bridge = AsgiBridge(endless, lifespan=_lifespan_app(), max_body=100)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": io.BytesIO(b""), "SERVER_PORT": "80"}

    result = bridge(environ, lambda status, headers, exc_info=None: None)
    assert next(iter(result)) == b"first"
    result.close()  # what a WSGI server does when the client goes away

    assert done.wait(timeout=30)
    assert told == [{"type": "http.disconnect"}]


TRUSTED_PROXY_PROBE = """
import io, sys
import config.wsgi
config.wsgi.django_application = lambda environ, start_response: [environ["REMOTE_ADDR"].encode()]
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "REMOTE_ADDR": sys.argv[1],
           "HTTP_X_FORWARDED_FOR": "203.0.113.7", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http"}
print(b"".join(config.wsgi.application(environ, None)).decode())
"""


@pytest.mark.parametrize(
    ("trusted", "sender", "seen"),
    [
        ("", "127.0.0.1", "127.0.0.1"),
        ("10.0.0.5", "10.0.0.5", "203.0.113.7"),
        ("10.0.0.5", "198.51.100.9", "198.51.100.9"),
    ],
    ids=["no-proxy-trusted", "from-the-trusted-proxy", "from-anyone-else"],
)
def test_x_forwarded_for_is_believed_only_from_the_trusted_proxies(trusted, sender, seen):
    import os
    import subprocess

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_TRUSTED_PROXIES": trusted,
        "IDP_TOKEN_CACHE_SECONDS": "0",
    }
    result = subprocess.run(
        [sys.executable, "-c", TRUSTED_PROXY_PROBE, sender],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == seen


@pytest.mark.django_db(transaction=True)
def test_a_get_of_mcp_is_answered_at_once_and_holds_no_server_thread(wsgi, user, application):
    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read", resource=[f"{ORIGIN}/mcp"])
    answers = []
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {raw}", "MCP-Protocol-Version": "2025-06-18"}
    server_thread = threading.Thread(target=lambda: answers.append(call(wsgi, "GET", "/mcp", headers=headers)))

    server_thread.start()
    server_thread.join(timeout=60)

    assert not server_thread.is_alive(), "a GET stream would hold this thread until the client left"
    assert answers[0][0] == HTTPStatus.METHOD_NOT_ALLOWED


def test_the_apps_database_work_runs_in_the_thread_that_waits_for_its_answer():
    """config.bridge.in_this_thread: thread-sensitive sync_to_async calls of a request go to the
    WSGI thread (asgiref's AsyncToSync.executors); if asgiref changes how it picks the thread, this fails."""
    from asgiref.sync import sync_to_async

    ran_in = []

    async def app(scope, receive, send):
        await receive()
        await sync_to_async(lambda: ran_in.append(threading.get_ident()))()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    bridge = AsgiBridge(app, lifespan=_lifespan_app(), max_body=100)

    status, _, chunks = call(bridge, "GET", "/")

    assert (status, chunks) == (HTTPStatus.OK, [b"done"])
    assert ran_in == [threading.get_ident()]


def test_a_process_freezes_what_it_holds_once_after_its_warm_up_requests(monkeypatch):
    """config.wsgi.WarmUp: gc.freeze() after the first N requests, once, and never before."""
    import config.wsgi

    frozen = []
    monkeypatch.setattr(config.wsgi.gc, "freeze", lambda: frozen.append(True))
    warm_up = config.wsgi.WarmUp(3)

    warm_up.request_seen()
    warm_up.request_seen()
    assert frozen == []
    warm_up.request_seen()
    assert frozen == [True]
    warm_up.request_seen()
    assert frozen == [True], "once only"
