"""SQL statements per request of each benchmarked path, on the production stack in one process.

    python -m benchmarks.statements CREDENTIALS_JSON      # prints {"path": count, ...} as JSON

Each request goes through config.wsgi's application, as the production
server calls it, once to warm the process's caches and once counted. Every
statement sent through Django's cursors is counted, in whatever thread runs
it (the MCP tools run their queries in threads of their own), as Django's
CaptureQueriesContext would count them in one; the BEGIN and COMMIT of a
transaction are not statements Django sends, so they are not counted.
Run by benchmarks/run.py after seeding, with the benchmark's environment.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import threading
from base64 import b64encode
from pathlib import Path
from urllib.parse import quote, urlsplit


class Counter:
    """A Django execute wrapper that counts the statements of every connection it is installed on."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)


def _request(application, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    parts = urlsplit(url)
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname,
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": parts.netloc,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    status: list[str] = []
    chunks = application(environ, lambda line, response_headers, exc_info=None: status.append(line))
    content = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0]), content


def count(credentials: dict) -> dict[str, int]:
    from django.conf import settings
    from django.db import connections
    from django.db.backends.signals import connection_created

    from benchmarks import seed
    from config.wsgi import application

    counter = Counter()

    def install(sender, connection, **kwargs) -> None:
        if counter not in connection.execute_wrappers:
            connection.execute_wrappers.append(counter)

    connection_created.connect(install, weak=False)
    for connection in connections.all():
        install(None, connection)

    site = settings.SITE_URL
    basic = (
        "Basic "
        + b64encode(f"{quote(credentials['client_id'])}:{quote(credentials['client_secret'])}".encode()).decode()
    )
    form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
    api = {"Authorization": f"Bearer {credentials['api_token']}"}
    mcp = {
        "Authorization": f"Bearer {credentials['mcp_token']}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    mcp_call = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}
    ).encode()
    with tempfile.TemporaryDirectory() as directory:
        refresh_file, code_file = Path(directory) / "refresh.txt", Path(directory) / "codes.txt"
        seed.mint_refresh_tokens(2, refresh_file)
        seed.mint_codes(2, code_file)
        refresh_tokens = refresh_file.read_text().split()
        codes = [line.split() for line in code_file.read_text().splitlines()]
    redirect = quote(seed.REDIRECT_URI, safe="")

    paths = {
        "discovery": lambda n: ("GET", "/.well-known/openid-configuration", {}, b""),
        "refresh grant": lambda n: (
            "POST", "/idp/token", form, f"grant_type=refresh_token&refresh_token={refresh_tokens[n]}".encode()
        ),
        "code exchange": lambda n: (
            "POST", "/idp/token", form,
            f"grant_type=authorization_code&code={codes[n][0]}&code_verifier={codes[n][1]}&redirect_uri={redirect}".encode(),
        ),
        "introspection": lambda n: ("POST", "/idp/introspect", form, f"token={credentials['api_token']}".encode()),
        "GET /api/tasks": lambda n: ("GET", "/api/tasks", api, b""),
        "POST /api/tasks": lambda n: (
            "POST", "/api/tasks", {**api, "Content-Type": "application/json"}, b'{"title": "Benchmark task"}'
        ),
        "MCP list_tasks": lambda n: ("POST", "/mcp", mcp, mcp_call),
    }  # fmt: skip
    counts = {}
    for name, make in paths.items():
        for attempt in range(2):
            method, path, headers, body = make(attempt)
            counter.count = 0
            status, content = _request(application, method, site + path, headers, body)
            if status >= 400:
                raise SystemExit(f"{name} answered {status}: {content[:300]!r}")
        counts[name] = counter.count
    return counts


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m benchmarks.statements CREDENTIALS_JSON")
    credentials = json.loads(Path(argv[0]).read_text())
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    print(json.dumps(count(credentials)))


if __name__ == "__main__":
    main(sys.argv[1:])
