"""A loopback http server that serves Client ID Metadata Documents to the provider under test."""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MetadataDocumentServer:
    """Serves `documents[path]` as JSON; its URLs are https://127.0.0.1:<port><path>, as a
    metadata document's client_id must be, and the provider fetches them over http when
    IDP_CIMD_ALLOW_LOOPBACK is on."""

    def __init__(self) -> None:
        self.documents: dict[str, dict] = {}
        self.delays: dict[str, float] = {}  # seconds to wait before answering, by path
        self.fetches: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.fetches.append(self.path)
                time.sleep(server.delays.get(self.path, 0))
                document = server.documents.get(self.path)
                if document is None:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                try:
                    body = json.dumps(document).encode()
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "max-age=600")
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the provider gave up waiting (a test of its time limit)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def publish(self, path: str, **metadata) -> str:
        """Serve a document at `path` whose client_id is its own URL; returns that URL."""
        client_id = self.url(path)
        self.documents[path] = {"client_id": client_id, **metadata}
        return client_id

    def serve(self, path: str, document: dict) -> str:
        """Serve any JSON object (a JWKS, say) at `path`; returns its URL."""
        self.documents[path] = document
        return self.url(path)

    def __enter__(self) -> MetadataDocumentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
