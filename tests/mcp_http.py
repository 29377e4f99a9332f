"""/mcp over HTTP in this process: config.asgi's application, through httpx2's ASGI transport.

The MCP SDK's session manager runs once per process, so one event loop in a
thread (an anyio blocking portal) holds its lifespan for the whole test run;
each request is sent on that loop. The server does its database work in
threads of its own, so tests that use this see only committed data
(`transactional_db`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx2
from anyio.from_thread import BlockingPortal

PROTOCOL = "2025-06-18"
ORIGIN = "http://127.0.0.1:8000"
_ids = itertools.count(1)


@dataclass
class McpHttp:
    portal: BlockingPortal
    app: object

    def post(self, body, *, token: str | None = None, path: str = "/mcp", headers: dict | None = None):
        """POST a JSON-RPC message as an MCP client would; returns the httpx2 response."""
        sent = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": PROTOCOL}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        return self.portal.call(self._send, "POST", path, body, sent)

    def get(self, path: str, *, token: str | None = None):
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        return self.portal.call(self._send, "GET", path, None, sent)

    async def _send(self, method: str, path: str, body, headers: dict):
        transport = httpx2.ASGITransport(app=self.app)
        async with httpx2.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            return await client.request(method, path, json=body, headers=headers)

    def rpc(self, method: str, params: dict | None = None, *, token: str | None, **kwargs):
        message = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
        if params is not None:
            message["params"] = params
        return self.post(message, token=token, **kwargs)

    def call_tool(self, name: str, arguments: dict | None = None, *, token: str, **kwargs):
        """tools/call; returns the HTTP response (its JSON's `result` is the CallToolResult)."""
        return self.rpc("tools/call", {"name": name, "arguments": arguments or {}}, token=token, **kwargs)
