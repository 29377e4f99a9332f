"""Who may call /mcp: bearer tokens of this provider issued for SITE_URL/mcp.

MCP authorization (2025-06-18 and later): the endpoint is an OAuth resource
server (RFC 9728, RFC 8707, RFC 6750). Every request needs a token; a tool
call needs its tool's scope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp import activity
from idp.bearer import Verdict, bearer_verify, bearer_verify_from_memory
from idp.services.consents import consent_mark_used, consent_use_noted_lately

PRINCIPAL = "taskgate.principal"
"""The ASGI scope key of the Principal of an authorized request, read by the tools."""

MAX_BODY = 4 * 1024 * 1024  # the MCP SDK's own limit (DEFAULT_MAX_REQUEST_BODY_SIZE)


@dataclass(frozen=True)
class Principal:
    """The person a request acts for, and what their token allows."""

    user: object
    scopes: frozenset[str]
    application_id: int | None = None


def resource_metadata_url() -> str:
    return settings.SITE_URL + reverse("idp:mcp-resource-metadata")


def task_scopes_with(scopes: frozenset[str] | set[str], needed: str | None = None) -> str:
    """The task scopes a client should ask for: those it has, and the one it lacks, in a stable order."""
    wanted = set(scopes) | ({needed} if needed else set())
    return " ".join(scope for scope in settings.TASK_SCOPES if scope in wanted)


def unauthorized_challenge(problem: str | None) -> str:
    """RFC 6750 §3 and RFC 9728 §5.1: where to find out how to get a token, and for which scopes.

    `error="invalid_token"` only when a token was sent (RFC 6750 §3.1).
    """
    challenge = f'Bearer resource_metadata="{resource_metadata_url()}", scope="{" ".join(settings.TASK_SCOPES)}"'
    if problem:
        challenge += f', error="invalid_token", error_description="{problem}"'
    return challenge


def insufficient_scope_challenge(scopes: frozenset[str], needed: str) -> str:
    """RFC 6750 §3.1 `insufficient_scope`, naming every scope to ask for (MCP scope step-up)."""
    return (
        f'Bearer error="insufficient_scope", scope="{task_scopes_with(scopes, needed)}", '
        f'resource_metadata="{resource_metadata_url()}", '
        f'error_description="This needs the {needed} scope, which the access token was not granted."'
    )


def insufficient_scope_tool_error(scopes: frozenset[str], needed: str) -> dict:
    """A tools/call result that asks the person to sign in again with more scope.

    ChatGPT Apps show their sign-in prompt for `isError` with
    `_meta["mcp/www_authenticate"]`; other clients read the text.
    """
    return {
        "content": [
            {
                "type": "text",
                "text": f"This needs the {needed} scope, which you have not allowed this app. "
                "Connect it again and allow it to change your tasks.",
            }
        ],
        "isError": True,
        "_meta": {
            "mcp/www_authenticate": [
                f'Bearer resource_metadata="{resource_metadata_url()}", error="insufficient_scope", '
                f'error_description="This needs the {needed} scope.", scope="{task_scopes_with(scopes, needed)}"'
            ]
        },
    }


async def _send_json(send: Send, status: int, body: dict, challenge: str) -> None:
    content = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"www-authenticate", challenge.encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _check_and_note_use(raw_token: str) -> Verdict:
    """The token check (idp.bearer), and a valid token's use noted for the person's Connected apps
    (idp.services.consents.consent_mark_used), in one trip to a thread."""
    verdict = bearer_verify(raw_token=raw_token, resource=settings.MCP_RESOURCE_URL)
    if verdict.grant is not None:
        consent_mark_used(user_id=verdict.grant.user.pk, application_id=verdict.grant.application_id)
    return verdict


def _check_from_memory(raw_token: str) -> Verdict | None:
    """_check_and_note_use's answer when it needs no database and no Redis (the token cached,
    its use noted lately), or None. Most requests of a client: they skip the trip to a thread."""
    verdict = bearer_verify_from_memory(raw_token=raw_token, resource=settings.MCP_RESOURCE_URL)
    if verdict is None:
        return None
    grant = verdict.grant
    if grant is not None and not consent_use_noted_lately(user_id=grant.user.pk, application_id=grant.application_id):
        return None
    return verdict


def _bearer_token(scope: Scope) -> str | None:
    """RFC 6750 §2.1: the Authorization header is the only place we read a token from."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def _tool_calls(body: bytes) -> list[tuple[object, str]]:
    """The (JSON-RPC id, tool name) of each tools/call in a request body."""
    try:
        payload = json.loads(body)
    except ValueError:
        return []
    messages = payload if isinstance(payload, list) else [payload]
    calls = []
    for message in messages:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                calls.append((message.get("id"), params["name"]))
    return calls


class BearerAuth:
    """ASGI middleware in front of the MCP app.

    Not the MCP SDK's BearerAuthBackend and RequireAuthMiddleware: their
    challenge carries neither the `scope` to ask for (MCP scope step-up) nor
    why a token was refused, and a tool's scope is known only from the body.

    401 for a missing or refused token, 403 for a tools/call whose tool needs
    a scope the token lacks (checked before the tool runs, so that MCP clients
    can step up; the body is the tool error ChatGPT reads). Where the
    request's database work runs, and its connections' lifetime, is the
    host's: config.wsgi runs it in the WSGI thread that waits for the answer,
    config.asgi in a thread of the request's own.
    """

    def __init__(self, app: ASGIApp, *, tool_scopes: dict[str, str]) -> None:
        self.app = app
        self.tool_scopes = tool_scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._authorize(scope, receive, send)

    async def _authorize(self, scope: Scope, receive: Receive, send: Send) -> None:
        send = activity.mcp_counting_send(send, scope, PRINCIPAL)
        raw_token = _bearer_token(scope)
        if not raw_token:
            problem = None if raw_token is None else "Send the access token as: Authorization: Bearer <token>."
            description = problem or f"Send an access token for {settings.MCP_RESOURCE_URL}: see WWW-Authenticate."
            await _send_json(
                send,
                401,
                {"error": "invalid_token" if problem else "unauthorized", "error_description": description},
                unauthorized_challenge(problem),
            )
            return
        check = _check_from_memory(raw_token) or await sync_to_async(_check_and_note_use)(raw_token)
        if check.grant is None:
            await _send_json(
                send,
                401,
                {"error": "invalid_token", "error_description": check.problem},
                unauthorized_challenge(check.problem),
            )
            return
        scope[PRINCIPAL] = Principal(
            user=check.grant.user, scopes=check.scopes, application_id=check.grant.application_id
        )
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, receive = await _buffered(receive)
        for request_id, tool in _tool_calls(body):
            needed = self.tool_scopes.get(tool)
            if needed and needed not in check.scopes:
                result = insufficient_scope_tool_error(check.scopes, needed)
                await _send_json(
                    send,
                    403,
                    {"jsonrpc": "2.0", "id": request_id, "result": result},
                    insufficient_scope_challenge(check.scopes, needed),
                )
                return
        await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the request body (up to MAX_BODY), and a `receive` that replays it to the app."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return (body if not more else b""), replay
