"""Client ID Metadata Documents under attack: private addresses, redirects, huge documents, slow servers.

draft-ietf-oauth-client-id-metadata-document §6 (security considerations:
SSRF, size and time limits) and RFC 9700 §4.1 (redirects to unexpected
places). Every refused document leaves an unknown client: an error page, no
redirect, no app written. Already elsewhere: loopback refused outside tests
and a `client_id` that differs from the URL
(tests/idp/test_client_metadata_documents.py); DCR's bad redirect URIs and
rate limit (tests/idp/test_registration.py).
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from idp.models import Application
from tests.oauth_flow import authorize

pytestmark = pytest.mark.django_db

CALLBACK = "http://127.0.0.1:33418/callback"


class HostileDocuments:
    """Serves the answers a hostile or broken metadata host gives, by path."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.fetches.append(self.path)
                if self.path == "/redirect.json":
                    self.send_response(HTTPStatus.FOUND)
                    self.send_header("Location", outer.url("/good.json"))
                    self.end_headers()
                    return
                if self.path == "/slow.json":
                    time.sleep(3)
                body = json.dumps(outer.document(self.path)).encode()
                if self.path == "/huge.json":
                    body = json.dumps({**outer.document(self.path), "padding": "x" * 200_000}).encode()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.fetches: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def document(self, path: str) -> dict:
        return {
            "client_id": self.url(path),
            "client_name": "A hostile client",
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile(settings):
    settings.IDP_CIMD_ALLOW_LOOPBACK = True
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_FETCH_TIMEOUT_SECONDS": 1}
    cache.clear()
    server = HostileDocuments()
    yield server
    server.close()


def test_the_fixture_serves_a_good_document_that_is_accepted(logged_in_client, hostile):
    page = authorize(logged_in_client, client_id=hostile.url("/good.json"), redirect_uri=CALLBACK)

    assert page.status_code == HTTPStatus.OK, page.content[:300]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/redirect.json", "draft §6: the fetch follows no redirect"),
        ("/huge.json", "draft §6.6: a size limit"),
        ("/slow.json", "a time limit: a slow server does not hold the request"),
    ],
)
def test_a_hostile_metadata_host_makes_an_unknown_client(logged_in_client, hostile, path, why):
    started = time.monotonic()

    page = authorize(logged_in_client, client_id=hostile.url(path), redirect_uri=CALLBACK)

    assert page.status_code == HTTPStatus.BAD_REQUEST, why
    assert "Location" not in page
    assert not Application.objects.exists(), why
    assert time.monotonic() - started < 3, "the slow server was waited for past the time limit"
    assert "/good.json" not in hostile.fetches


@pytest.mark.parametrize(
    "client_id",
    [
        "https://10.0.0.1/client.json",
        "https://192.168.1.20/client.json",
        "https://172.16.0.5/client.json",
        "https://169.254.169.254/latest/meta-data.json",
        "https://[::1]/client.json",
        "https://localhost/client.json",
        "https://0.0.0.0/client.json",
        "http://client.example.com/client.json",
    ],
)
def test_a_metadata_document_at_a_private_or_loopback_address_is_not_fetched(logged_in_client, settings, client_id):
    """draft §6.5 (SSRF): "MUST NOT fetch ... private or loopback addresses"; https only."""
    settings.IDP_CIMD_ALLOW_LOOPBACK = False
    cache.clear()

    page = authorize(logged_in_client, client_id=client_id, redirect_uri=CALLBACK)

    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in page
    assert not Application.objects.exists()
