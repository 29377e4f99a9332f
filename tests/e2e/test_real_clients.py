"""Real clients, with the documents and requests they really send (tests/real_clients.py), end to end.

Each is walked against a live server, over real HTTP: discovery, the
metadata document served from loopback (IDP_CIMD_ALLOW_LOOPBACK) or a
registration, the authorization request with PKCE and `resource`, the
person's login and consent, the code exchange, a `tools/call` at /mcp with
the official MCP SDK's client, and a refresh. Third-party libraries play the
clients where ChatGPT and Claude cannot be run here: Authlib (with its own
private_key_jwt), the MCP Python SDK, and the MCP TypeScript SDK in Node.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from http import HTTPStatus
from pathlib import Path

import httpx2
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata

from idp.models import Application, ClientKeys
from idp.services.gpt_actions import application_create_for_gpt_action
from tasks.models import Task
from tests.keys import ClientKey
from tests.live import LiveServer
from tests.mcp_sdk import MemoryStorage, Person, run
from tests.metadata_documents import MetadataDocumentServer
from tests.people import answer_consent, log_in
from tests.real_clients import CHATGPT, CLAUDE, GPT_ACTION_TOKEN_REQUEST, MCP_TYPESCRIPT_SDK_REGISTRATION

pytestmark = pytest.mark.live

BASE_DIR = Path(__file__).resolve().parents[2]
SCOPE = "tasks:read tasks:write"


def _server(workdir, name: str, **env) -> LiveServer:
    return LiveServer(
        host="localhost",  # its own cookie jar: browsers key cookies by host, not port
        log_path=workdir / f"live-server-{name}.log",
        extra_env={"DJANGO_DEBUG": "1", "IDP_CIMD_ALLOW_LOOPBACK": "1", **env},
    ).start()


@pytest.fixture(scope="module")
def real_server(django_db_setup, django_db_blocker, workdir):
    """A live server that may fetch metadata documents and keys from loopback (tests only)."""
    with django_db_blocker.unblock():
        server = _server(workdir, "real-clients")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_without_keys(django_db_setup, django_db_blocker, workdir):
    """The same, with private_key_jwt turned off (IDP_PRIVATE_KEY_JWT=0)."""
    with django_db_blocker.unblock():
        server = _server(workdir, "no-private-key-jwt", IDP_PRIVATE_KEY_JWT="0")
    yield server
    server.stop()


@pytest.fixture
def documents():
    with MetadataDocumentServer() as server:
        yield server


class MetadataDocumentClient:
    """A client as ChatGPT and Claude behave: it reads the discovery document, names its metadata
    document as client_id, and authenticates with private_key_jwt when the server lists it (and
    the document offers it), else as a public client. Authlib does the OAuth work."""

    def __init__(self, server: LiveServer, client_id: str, document: dict, key: ClientKey | None = None):
        self.server, self.client_id, self.document, self.key = server, client_id, document, key
        self.metadata = requests.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=10).json()
        offered = document.get("token_endpoint_auth_methods_supported", [document["token_endpoint_auth_method"]])
        served = self.metadata["token_endpoint_auth_methods_supported"]
        self.auth_method = "private_key_jwt" if "private_key_jwt" in offered and "private_key_jwt" in served else "none"
        self.redirect_uri = document["redirect_uris"][0]
        self.resource = f"{server.url}/mcp"
        if self.auth_method == "private_key_jwt":
            self.session = OAuth2Session(
                client_id,
                key.private_pem.decode(),
                token_endpoint_auth_method="private_key_jwt",
                scope=SCOPE,
                redirect_uri=self.redirect_uri,
                code_challenge_method="S256",
            )
            self.session.register_client_auth_method(
                PrivateKeyJWT(self.metadata["token_endpoint"], headers={"kid": key.kid}, alg="RS256")
            )
        else:
            self.session = OAuth2Session(
                client_id,
                token_endpoint_auth_method="none",
                scope=SCOPE,
                redirect_uri=self.redirect_uri,
                code_challenge_method="S256",
            )

    def connect(self, person: requests.Session) -> dict:
        """Authorize (PKCE, `resource`), let the person consent, exchange the code."""
        verifier = secrets.token_urlsafe(48)
        url, state = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, resource=self.resource
        )
        callback = answer_consent(person, url)
        assert callback["_location"].startswith(self.redirect_uri), callback
        assert callback["state"] == state
        assert callback["iss"] == self.server.url, "RFC 9207"
        return self.session.fetch_token(
            self.metadata["token_endpoint"],
            code=callback["code"],
            code_verifier=verifier,
            resource=self.resource,
        )

    def refresh(self, refresh_token: str) -> dict:
        return self.session.refresh_token(self.metadata["token_endpoint"], refresh_token=refresh_token)


async def _list_tasks(url: str, access_token: str):
    headers = {"Authorization": f"Bearer {access_token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await client.call_tool("list_tasks", {})


def list_tasks_at_mcp(server: LiveServer, access_token: str):
    """tools/call list_tasks at /mcp with the official MCP SDK's client."""
    return run(_list_tasks, f"{server.url}/mcp", access_token)


def a_person_with_a_task(server: LiveServer, user, password: str) -> requests.Session:
    Task.objects.create(owner=user, title="Renew the passport")
    person = requests.Session()
    assert log_in(person, server.url, user.email, password).status_code == HTTPStatus.FOUND
    return person


def check_the_tools(server: LiveServer, access_token: str) -> None:
    result = list_tasks_at_mcp(server, access_token)
    assert not result.is_error, result.content
    assert [task["title"] for task in result.structured_content["tasks"]] == ["Renew the passport"]


def test_chatgpt_connects_with_its_metadata_document_and_a_signed_assertion(
    real_server, transactional_db, documents, user, password
):
    """ChatGPT's own document, private_key_jwt (RFC 7523 §2.2) with Authlib signing the assertions."""
    key = ClientKey()
    client_id = documents.url(CHATGPT.path)
    document = documents.documents[CHATGPT.path] = CHATGPT.served_at(documents.url)
    documents.serve("/oauth/jwks.json", key.jwks())
    person = a_person_with_a_task(real_server, user, password)
    chatgpt = MetadataDocumentClient(real_server, client_id, document, key)
    assert chatgpt.auth_method == "private_key_jwt"

    tokens = chatgpt.connect(person)

    check_the_tools(real_server, tokens["access_token"])
    keys = ClientKeys.objects.get(client_id=client_id)
    assert keys.jwks_uri == documents.url("/oauth/jwks.json")
    refreshed = chatgpt.refresh(tokens["refresh_token"])
    check_the_tools(real_server, refreshed["access_token"])
    # The refresh token needs the key as the exchange did: without an assertion, invalid_client.
    without_key = requests.post(
        chatgpt.metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": client_id},
        timeout=10,
    )
    assert without_key.status_code == HTTPStatus.UNAUTHORIZED
    assert without_key.json()["error"] == "invalid_client"
    assert documents.fetches.count("/oauth/jwks.json") == 1, "the keys are cached"


def test_chatgpt_connects_as_a_public_client_where_private_key_jwt_is_not_offered(
    server_without_keys, transactional_db, documents, user, password
):
    """ChatGPT's document offers none as well (token_endpoint_auth_methods_supported); it is used then."""
    client_id = documents.url(CHATGPT.path)
    document = documents.documents[CHATGPT.path] = CHATGPT.served_at(documents.url)
    person = a_person_with_a_task(server_without_keys, user, password)
    chatgpt = MetadataDocumentClient(server_without_keys, client_id, document)
    assert chatgpt.auth_method == "none"

    tokens = chatgpt.connect(person)

    check_the_tools(server_without_keys, tokens["access_token"])
    check_the_tools(server_without_keys, chatgpt.refresh(tokens["refresh_token"])["access_token"])
    assert not ClientKeys.objects.exists()
    assert "/oauth/jwks.json" not in documents.fetches


def test_claude_connects_with_its_metadata_document(real_server, transactional_db, documents, user, password):
    """Claude's own document: the jwt-bearer grant it lists is ignored, the rest served."""
    client_id = documents.url(CLAUDE.path)
    document = documents.documents[CLAUDE.path] = CLAUDE.served_at(documents.url)
    person = a_person_with_a_task(real_server, user, password)
    claude = MetadataDocumentClient(real_server, client_id, document)

    tokens = claude.connect(person)

    check_the_tools(real_server, tokens["access_token"])
    check_the_tools(real_server, claude.refresh(tokens["refresh_token"])["access_token"])
    assert Application.objects.get(client_id=client_id).name == "Claude"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node runs the MCP TypeScript SDK (make test installs it)")
def test_the_mcp_typescript_sdk_registers_with_its_request_and_the_client_connects(
    real_server, transactional_db, user, password
):
    """@modelcontextprotocol/client's own discovery and registerClient, in Node, then the flow."""
    script = """
    import { discoverAuthorizationServerMetadata, registerClient } from "@modelcontextprotocol/client";
    const [server, clientMetadata] = [process.argv[1], JSON.parse(process.argv[2])];
    const metadata = await discoverAuthorizationServerMetadata(server);
    const { scope, ...rest } = clientMetadata;
    const info = await registerClient(server, { metadata, clientMetadata: rest, scope });
    console.log(JSON.stringify(info));
    """
    completed = subprocess.run(
        ["node", "--input-type=module", "-e", script, real_server.url, json.dumps(MCP_TYPESCRIPT_SDK_REGISTRATION)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    registered = json.loads(completed.stdout)  # parsed by the SDK's own schema first
    assert registered["token_endpoint_auth_method"] == "none"
    person = a_person_with_a_task(real_server, user, password)
    inspector = MetadataDocumentClient(real_server, registered["client_id"], MCP_TYPESCRIPT_SDK_REGISTRATION)

    tokens = inspector.connect(person)

    check_the_tools(real_server, tokens["access_token"])


def test_the_mcp_python_sdk_with_its_default_registration_connects(real_server, transactional_db, user, password):
    """The SDK's OAuthClientMetadata with its defaults (no token_endpoint_auth_method: a client
    secret, RFC 7591 §2), registered, authorized, used and refreshed by the SDK itself."""
    Task.objects.create(owner=user, title="Renew the passport")
    person = Person(real_server.url, user.email, password)
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=f"{real_server.url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="MCP Python SDK defaults", redirect_uris=["http://127.0.0.1:33418/callback"]
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )

    async def use() -> object:
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
            async with Client(streamable_http_client(f"{real_server.url}/mcp", http_client=http)) as client:
                return await client.call_tool("list_tasks", {})

    result = run(use)

    assert not result.is_error, result.content
    assert storage.client_info.token_endpoint_auth_method == "client_secret_basic"
    assert storage.client_info.client_secret


def test_a_gpt_action_token_request_as_chatgpt_sends_it(real_server, transactional_db, user, password):
    """GPT Actions: the code grant without PKCE or `resource`, the secret in the POST body."""
    issued = application_create_for_gpt_action(
        name="A GPT", callback_url=GPT_ACTION_TOKEN_REQUEST["redirect_uri"], scopes=["tasks:read"]
    )
    person = a_person_with_a_task(real_server, user, password)
    callback = answer_consent(
        person,
        f"{real_server.url}/idp?"
        + requests.compat.urlencode(
            {
                "response_type": "code",
                "client_id": issued.client_id,
                "redirect_uri": GPT_ACTION_TOKEN_REQUEST["redirect_uri"],
                "scope": "tasks:read",
                "state": "gpt-state",
            }
        ),
    )
    request = {
        **GPT_ACTION_TOKEN_REQUEST,
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
        "code": callback["code"],
    }

    tokens = requests.post(f"{real_server.url}/idp/token", data=request, timeout=10)

    assert tokens.status_code == HTTPStatus.OK, tokens.text
    tasks = requests.get(
        f"{real_server.url}/api/tasks",
        headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
        timeout=10,
    )
    assert tasks.status_code == HTTPStatus.OK
    assert [task["title"] for task in tasks.json()["results"]] == ["Renew the passport"]
