"""What each connected app did, and for whom (README "Activity").

- Writes to tasks through the API or /mcp leave an ActivityRecord each, in
  the write's transaction (idp.activity.records, called by tasks.services).
- Everything else is counted per app and hour, in the process, without a
  database write on the request's path (idp.activity.counting): API calls,
  MCP tool calls by tool, refusals (401, 403, 429), errors, tokens issued by
  grant, and the people each app acted for. `manage.py rollup_activity`
  rolls the counts into hourly rows (idp.activity.store).

The functions below are the only hooks on the request paths: one call each.
"""

from __future__ import annotations

from django.conf import settings

from idp.activity.counting import count, flush, forget

__all__ = [
    "api_exception_counted",
    "api_request_counted",
    "count",
    "flush",
    "forget",
    "mcp_counting_send",
    "mcp_tool_counted",
    "mcp_tool_failed",
    "token_issued_counted",
    "token_refused_counted",
]

REFUSALS = frozenset({401, 403, 429})

# Metrics, as stored in ActivityCount.metric.
API = "api"
MCP_TOOL = "mcp:"  # + the tool's name
TOKENS_ISSUED = "token:"  # + the grant type
REFUSED = "refused:"  # + 401, 403 or 429
ERROR = "error"


def _counted_answer(app_id: int | None, user_id: int | None, status: int, call: str) -> None:
    if status in REFUSALS:
        count(app_id, f"{REFUSED}{status}")
        return
    count(app_id, call, user_id)
    if status >= 500:
        count(app_id, ERROR)


def api_request_counted(request, status: int) -> None:
    """A task API answer (TaskApiView.finalize_response): a call, a refusal or an error, for the token's app."""
    if not settings.ACTIVITY_COUNTING:
        return
    grant = request.auth
    user = request.user
    _counted_answer(getattr(grant, "application_id", None), user.pk if user else None, status, API)


def api_exception_counted(request, exc: Exception) -> None:
    """An exception in a task API view (TaskApiView.handle_exception): an error if it becomes a 500,
    that is, if neither DRF nor Django answers it; the others reach finalize_response."""
    from django.core.exceptions import PermissionDenied
    from django.http import Http404
    from rest_framework.exceptions import APIException

    if settings.ACTIVITY_COUNTING and not isinstance(exc, APIException | Http404 | PermissionDenied):
        api_request_counted(request, 500)


def mcp_counting_send(send, scope: dict, principal_key: str):
    """An ASGI `send` that counts /mcp's refusals and errors as they are sent (tasks.mcp_auth.BearerAuth).

    The app is the principal's, if the token was accepted before the refusal (a 403).
    """
    if not settings.ACTIVITY_COUNTING:
        return send

    async def counting_send(message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            if status in REFUSALS or status >= 500:
                principal = scope.get(principal_key)
                count(getattr(principal, "application_id", None), f"{REFUSED}{status}" if status in REFUSALS else ERROR)
        await send(message)

    return counting_send


def mcp_tool_counted(principal, tool: str) -> None:
    """A tools/call that passed its checks (tasks.mcp.check_tool_call), by tool, for the principal's app."""
    if settings.ACTIVITY_COUNTING and principal is not None:
        count(principal.application_id, MCP_TOOL + tool, principal.user.pk)


def mcp_tool_failed(principal) -> None:
    """A tool that crashed (tasks.mcp._call): an error of the principal's app, as a 500 of the REST API is.
    A tool's refusal of bad input (a ToolError) is the call's answer, as the API's 400s and 404s are."""
    if settings.ACTIVITY_COUNTING:
        count(principal.application_id, ERROR)


def token_refused_counted(*, application_id: int | None, status: int) -> None:
    """A token request refused before anything was issued: a failed client authentication (401, for the
    client it named, TaskgateOAuth2Validator) or too many of them (429, TokenView: no app is looked up)."""
    count(application_id, f"{REFUSED}{status}")


def token_issued_counted(*, application_id: int, user_id: int | None, grant_type: str) -> None:
    """A token issued at the token endpoint (TaskgateOAuth2Validator._save_bearer_token), by grant type."""
    count(application_id, TOKENS_ISSUED + grant_type, user_id)
