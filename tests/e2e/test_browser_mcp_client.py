"""An MCP client that runs in a browser page of another origin (MCP Inspector's kind), in Chromium.

With `fetch` from its own origin it reads the protected-resource and
discovery documents, registers (RFC 7591), sends the person to log in and
allow it (a second window), exchanges the code with PKCE and `resource`, and
calls a tool at /mcp: every step needs CORS. A request with cookies from that
origin to /account is not readable (no CORS there: the session stays same-origin).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tasks.models import Task

pytestmark = [pytest.mark.live, pytest.mark.browser]

CLIENT_PAGE = """<!doctype html><html lang="en"><head><title>A browser MCP client</title></head>
<body><h1>A browser MCP client</h1></body></html>"""

DISCOVER_AND_REGISTER = """async ([mcpUrl, redirectUri]) => {
  const unauthorized = await fetch(mcpUrl, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({jsonrpc: "2.0", id: 1, method: "tools/list"})});
  const challenge = unauthorized.headers.get("WWW-Authenticate");
  const prmUrl = /resource_metadata="([^"]+)"/.exec(challenge)[1];
  const prm = await (await fetch(prmUrl)).json();
  const issuer = prm.authorization_servers[0];
  const metadata = await (await fetch(issuer + "/.well-known/oauth-authorization-server")).json();
  const registration = await (await fetch(metadata.registration_endpoint, {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({client_name: "Browser MCP client", redirect_uris: [redirectUri],
      token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"]})})).json();
  const verifierBytes = crypto.getRandomValues(new Uint8Array(32));
  const b64url = (bytes) =>
    btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const verifier = b64url(verifierBytes);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const authorize = new URL(metadata.authorization_endpoint);
  for (const [name, value] of Object.entries({response_type: "code", client_id: registration.client_id,
      redirect_uri: redirectUri, scope: prm.scopes_supported.join(" "), state: "browser-state",
      code_challenge: b64url(digest), code_challenge_method: "S256", resource: prm.resource})) {
    authorize.searchParams.set(name, value);
  }
  return {challenge, metadata, registration, verifier, authorize: authorize.toString(), resource: prm.resource};
}"""

EXCHANGE_AND_CALL = """async ([metadata, clientId, code, verifier, redirectUri, resource, mcpUrl]) => {
  const tokens = await (await fetch(metadata.token_endpoint, {method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: new URLSearchParams({grant_type: "authorization_code", code, client_id: clientId,
      redirect_uri: redirectUri, code_verifier: verifier, resource})})).json();
  const answer = await (await fetch(mcpUrl, {method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
      "Authorization": "Bearer " + tokens.access_token, "MCP-Protocol-Version": "2025-06-18"},
    body: JSON.stringify({jsonrpc: "2.0", id: 2, method: "tools/call",
      params: {name: "list_tasks", arguments: {}}})})).json();
  return {tokens, answer};
}"""

READ_ACCOUNT = """async (accountUrl) => {
  try {
    const response = await fetch(accountUrl, {credentials: "include"});
    return {read: true, text: await response.text()};
  } catch (error) {
    return {read: false, error: String(error)};
  }
}"""


class ClientOrigin:
    """The browser client's own origin: a loopback http server serving its page and its callback."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path.startswith("/callback"):
                    origin.arrived.append(self.path)
                body = CLIENT_PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # localhost: another origin than the provider's 127.0.0.1, on the loopback all the same.
        self.url = f"http://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def client_origin():
    origin = ClientOrigin()
    yield origin
    origin.close()


def test_a_browser_client_of_another_origin_registers_authorizes_and_calls_a_tool(
    browser, live_server, user, password, client_origin
):
    Task.objects.create(owner=user, title="Water the ferns")
    origin = client_origin.url
    redirect_uri = f"{origin}/callback"
    mcp_url = f"{live_server.url}/mcp"
    context = browser.new_context()

    def route(route):
        if route.request.url.startswith((origin, live_server.url)):
            route.continue_()
        else:
            route.abort()  # nothing leaves this machine

    context.route("**/*", route)
    client = context.new_page()
    client.goto(f"{origin}/client")

    found = client.evaluate(DISCOVER_AND_REGISTER, [mcp_url, redirect_uri])

    assert 'resource_metadata="' in found["challenge"], "the 401's WWW-Authenticate is exposed"
    assert found["registration"]["client_id"]

    # The person, in a window of the provider's own origin: log in, then allow.
    person = context.new_page()
    person.goto(found["authorize"])
    person.get_by_label("Email").fill(user.email)
    person.get_by_label("Password").fill(password)
    person.get_by_role("button", name="Log in").click()
    person.wait_for_url(f"{live_server.url}/idp?**")
    person.get_by_role("button", name="Allow").click()
    person.wait_for_url(f"{redirect_uri}?**")
    code = parse_qs(urlsplit(client_origin.arrived[-1]).query)["code"][0]

    result = client.evaluate(
        EXCHANGE_AND_CALL,
        [
            found["metadata"],
            found["registration"]["client_id"],
            code,
            found["verifier"],
            redirect_uri,
            found["resource"],
            mcp_url,
        ],
    )

    assert result["tokens"]["token_type"].lower() == "bearer"
    titles = [task["title"] for task in result["answer"]["result"]["structuredContent"]["tasks"]]
    assert titles == ["Water the ferns"]
    # The person is logged in to the provider in this browser, yet the other origin cannot read /account.
    account = client.evaluate(READ_ACCOUNT, f"{live_server.url}/account")
    assert account["read"] is False
    context.close()
