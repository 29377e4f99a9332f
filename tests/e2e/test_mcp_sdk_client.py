"""The official MCP Python SDK client against a live server, with nothing registered beforehand.

It finds the provider from /mcp's 401, registers itself (RFC 7591) or names a
Client ID Metadata Document, sends the person through the login and consent
pages with PKCE and `resource`, gets tokens, uses the tools and refreshes.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from django.utils import timezone
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from oauth2_provider.models import get_access_token_model

from idp.models import Application
from tasks.models import Task
from tests.live import LiveServer
from tests.mcp_sdk import MemoryStorage, Person, run
from tests.metadata_documents import MetadataDocumentServer

pytestmark = pytest.mark.live

CALLBACK = "http://127.0.0.1:33418/callback"  # loopback, never served: the code is read from the redirect
TOOLS = {"list_tasks", "get_task", "create_task", "update_task", "complete_task", "delete_task"}


def oauth(server: LiveServer, person: Person, storage: MemoryStorage, **kwargs) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{server.url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="MCP SDK test client",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
        **kwargs,
    )


async def use_the_tools(url: str, provider: OAuthClientProvider) -> dict:
    """Connect, list the tools, create a task and find it in the list."""
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            created = await client.call_tool("create_task", {"title": "Water the plants", "priority": "high"})
            listed = await client.call_tool("list_tasks", {"status": ["todo"]})
    return {"tools": tools, "created": created, "listed": listed}


async def list_after_expiry(url: str, provider: OAuthClientProvider):
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await client.call_tool("list_tasks", {})


def check_the_session(result: dict, user) -> None:
    assert {tool.name for tool in result["tools"].tools} == TOOLS
    created = result["created"]
    assert not created.is_error, created.content
    assert created.structured_content["title"] == "Water the plants"
    task = Task.objects.get(public_id=created.structured_content["id"])
    assert task.owner == user
    listed = result["listed"]
    assert [item["id"] for item in listed.structured_content["tasks"]] == [str(task.public_id)]
    assert "Water the plants" in listed.content[0].text


def check_the_refresh(server: LiveServer, provider: OAuthClientProvider, storage: MemoryStorage) -> None:
    """Expire the access token on both sides; the SDK refreshes it (RFC 6749 §6) and carries on."""
    first = storage.tokens
    get_access_token_model().objects.filter(scope__contains="tasks").update(expires=timezone.now())
    provider.context.token_expiry_time = time.time() - 1

    listed = run(list_after_expiry, f"{server.url}/mcp", provider)

    assert not listed.is_error, listed.content
    assert storage.tokens.access_token != first.access_token
    assert storage.tokens.refresh_token != first.refresh_token, "refresh tokens rotate"


def authorization_params(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_the_sdk_client_registers_authorizes_uses_the_tools_and_refreshes(live_server, user, password):
    person = Person(live_server.url, user.email, password)
    storage = MemoryStorage()
    provider = oauth(live_server, person, storage)

    result = run(use_the_tools, f"{live_server.url}/mcp", provider)

    check_the_session(result, user)
    # It registered itself (RFC 7591) and asked for a token for /mcp with PKCE.
    application = Application.objects.get(client_id=storage.client_info.client_id)
    assert application.registration_source == Application.RegistrationSource.DCR
    assert application.name == "MCP SDK test client"
    params = authorization_params(person.authorization_urls[0])
    assert params["resource"] == f"{live_server.url}/mcp"
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "tasks:read tasks:write"
    token = get_access_token_model().objects.get(application=application, scope="tasks:read tasks:write")
    assert token.resource == [f"{live_server.url}/mcp"]
    check_the_refresh(live_server, provider, storage)


@pytest.fixture(scope="module")
def cimd_server(django_db_setup, django_db_blocker, workdir):
    """A live server of its own, that may fetch metadata documents from loopback (tests only)."""
    with django_db_blocker.unblock():
        server = LiveServer(
            host="localhost",  # its own cookie jar: browsers key cookies by host, not port
            log_path=workdir / "live-server-cimd.log",
            extra_env={"DJANGO_DEBUG": "1", "IDP_CIMD_ALLOW_LOOPBACK": "1"},
        ).start()
    yield server
    server.stop()


def test_the_sdk_client_uses_a_client_id_metadata_document_instead_of_registering(
    cimd_server, transactional_db, user, password
):
    with MetadataDocumentServer() as documents:
        client_id = documents.publish(
            "/mcp-client.json",
            client_name="MCP SDK test client (metadata document)",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        )
        person = Person(cimd_server.url, user.email, password)
        storage = MemoryStorage()
        provider = oauth(cimd_server, person, storage, client_metadata_url=client_id)

        result = run(use_the_tools, f"{cimd_server.url}/mcp", provider)

        check_the_session(result, user)
        assert storage.client_info.client_id == client_id
        application = Application.objects.get(client_id=client_id)
        assert application.registration_source == Application.RegistrationSource.CIMD
        assert not Application.objects.filter(registration_source=Application.RegistrationSource.DCR).exists()
        assert documents.fetches == ["/mcp-client.json"]
        assert authorization_params(person.authorization_urls[0])["client_id"] == client_id
        check_the_refresh(cimd_server, provider, storage)
