"""The documents and requests real clients publish and send, as they are.

Our own documents once passed every test while ChatGPT's and Claude's were
refused. Each entry here is a real client's, copied from where it was
published (the source says where) with only its URLs moved to where a test
serves them. tests/e2e/test_real_clients.py walks each one through the whole
flow against a live server; when a client changes what it sends, the change
is one edit here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetadataDocument:
    """A Client ID Metadata Document as its client publishes it."""

    client: str
    path: str
    document: dict
    source: str

    def served_at(self, url_of) -> dict:
        """The document served by a test: its client_id (and jwks_uri) on the test's own server."""
        document = {**self.document, "client_id": url_of(self.path)}
        if "jwks_uri" in document:
            document["jwks_uri"] = url_of(self.path.rsplit("/", 1)[0] + "/jwks.json")
        return document


CHATGPT = MetadataDocument(
    client="ChatGPT",
    path="/oauth/client.json",
    # It names private_key_jwt and offers none as well; it uses private_key_jwt
    # when the server advertises it, else none.
    document={
        "client_id": "https://chatgpt.com/oauth/client.json",
        "client_uri": "https://chatgpt.com/",
        "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "ChatGPT",
        "logo_uri": "https://persistent.oaistatic.com/sonic/misc/openai-logo.png",
        "token_endpoint_auth_signing_alg": "RS256",
        "jwks_uri": "https://chatgpt.com/oauth/jwks.json",
    },
    source="https://chatgpt.com/oauth/client.json, quoted in django-oauth-toolkit issues #1845 and #1857 (2026)",
)

CLAUDE = MetadataDocument(
    client="Claude",
    path="/oauth/mcp-oauth-client-metadata",
    # It lists a grant it never uses at an MCP server (jwt-bearer) beside the code grant.
    document={
        "client_id": "https://claude.ai/oauth/mcp-oauth-client-metadata",
        "client_name": "Claude",
        "client_uri": "https://claude.ai",
        "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "grant_types": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    },
    source="claude.ai's metadata document, quoted in django-oauth-toolkit #1855, keycloak #50362 "
    "and anthropics/claude-ai-mcp #487 (2026)",
)

METADATA_DOCUMENTS = [CHATGPT, CLAUDE]

# What @modelcontextprotocol/client's registerClient POSTs to the registration
# endpoint: the application's clientMetadata as it is, plus the scope the
# protected-resource metadata offers. This is the MCP Inspector's.
MCP_TYPESCRIPT_SDK_REGISTRATION = {
    "redirect_uris": ["http://localhost:6274/oauth/callback"],
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "client_name": "MCP Inspector",
    "client_uri": "https://github.com/modelcontextprotocol/inspector",
    "scope": "tasks:read tasks:write",
}

# A GPT Action's token request ("Default (POST request)" in the GPT editor):
# the code grant with the secret in the body, no PKCE, no `resource`.
GPT_ACTION_TOKEN_REQUEST = {
    "grant_type": "authorization_code",
    "client_id": "<the app's client ID>",
    "client_secret": "<the app's secret>",
    "code": "<the code>",
    "redirect_uri": "https://chatgpt.com/aip/g-0123456789abcdef0123456789abcdef01234567/oauth/callback",
}
