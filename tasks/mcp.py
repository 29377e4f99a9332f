"""The MCP endpoint, /mcp: the task tools, over the same services as the REST API.

Served by config.asgi beside Django with the official SDK (MCPServer), as
streamable HTTP, stateless with JSON responses, so that any worker process or
machine can answer any request. tasks.mcp_auth authorizes every request.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from mcp.server.apps import Apps, ResourceCsp
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from pydantic import AwareDatetime, BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from config import __version__
from config.validation import validation_sentence
from idp import activity
from idp.activity.records import via_app
from tasks import selectors, services
from tasks.authentication import READ_SCOPE, WRITE_SCOPE
from tasks.board import TASK_BOARD_URI, task_board_html
from tasks.mcp_auth import PRINCIPAL, BearerAuth, Principal, insufficient_scope_tool_error
from tasks.models import IDEMPOTENCY_KEY_MAX_LENGTH, NOTES_MAX_LENGTH, TITLE_MAX_LENGTH, Task
from tasks.serializers import app_data, task_data

BOARD_TOOL_VISIBILITY = ["model", "app"]
"""The board's tools stay the model's tools too: the board calls the same ones (MCP Apps `_meta.ui.visibility`)."""

_TOOLS: list[tuple[Callable, dict[str, Any], bool]] = []
"""Each tool's function, its options and whether the task board shows it: mcp_server() registers them."""

TOOL_SCOPES: dict[str, str] = {}
"""The scope each tool needs; tasks.mcp_auth checks it before the tool runs."""
TOOL_ARGUMENTS: dict[str, list[str]] = {}


async def check_tool_call(ctx, call_next):
    """MCPServer middleware: what a tools/call must pass before its arguments are validated.

    - The tool's scope. The HTTP layer (tasks.mcp_auth) answers 403 first; this
      answers any call that reaches the server all the same, with the result
      ChatGPT Apps read as "sign in again".
    - No unknown argument: a misspelt one (`due` for `due_at`) is an error, as
      in the REST API, not silently dropped.
    """
    params = ctx.params if ctx.method == "tools/call" and isinstance(ctx.params, Mapping) else {}
    name = params.get("name")
    if ctx.method == "tools/call" and name not in TOOL_SCOPES:
        # MCP server/tools, Error Handling: an unknown tool is a protocol error, not a tool's result.
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}. The tools are: {', '.join(TOOL_SCOPES)}.")
    principal = _principal_of(ctx.request)
    needed = TOOL_SCOPES.get(name)
    if principal is not None and needed is not None and needed not in principal.scopes:
        return insufficient_scope_tool_error(principal.scopes, needed)
    known = TOOL_ARGUMENTS.get(name)
    arguments = params.get("arguments")
    unknown = sorted(set(arguments) - set(known)) if known is not None and isinstance(arguments, Mapping) else []
    if unknown:
        text = f"Unknown argument {unknown[0]!r} for {name}. Known arguments: {', '.join(known)}."
        return CallToolResult(content=[TextContent(text=text)], is_error=True)
    if name is not None:
        activity.mcp_tool_counted(principal, name)
    return await call_next(ctx)


def task_tool(
    name: str, *, title: str, scope: str, read_only: bool, destructive: bool, idempotent: bool, board: bool = False
):
    """Register a tool with its annotations and the scope it needs.

    `_meta.securitySchemes` tells ChatGPT Apps (and any client that reads it)
    that the tool needs an OAuth token with that scope. With `board`, the
    tool's result is shown in the task board (`_meta.ui.resourceUri`) and the
    board may call it (`_meta.ui.visibility`), through the SDK's Apps helper.
    The tools are put on a server when mcp_server() builds it.
    """

    def register(function: Callable) -> Callable:
        TOOL_SCOPES[name] = scope
        TOOL_ARGUMENTS[name] = [argument for argument in inspect.signature(function).parameters if argument != "ctx"]
        options = {
            "name": name,
            "title": title,
            "annotations": ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=idempotent,
                open_world_hint=False,
            ),
            "meta": {"securitySchemes": [{"type": "oauth2", "scopes": [scope]}]},
        }
        _TOOLS.append((function, options, board))
        return function

    return register


# --- What the tools return (structured content; its schema is each tool's outputSchema) ---

Status = Literal[tuple(Task.Status.values)]
Priority = Literal[tuple(Task.Priority.values)]


class AppOut(BaseModel):
    """The connected app that made a change."""

    client_id: str = Field(description="The app's OAuth client ID.")
    name: str = Field(description="The app's name.")


class TaskOut(BaseModel):
    """A task as the REST API shows it."""

    id: uuid.UUID = Field(description="The task's id, for get_task, update_task, complete_task and delete_task.")
    title: str
    notes: str = Field(description="Markdown.")
    status: Status
    priority: Priority
    due_at: datetime | None = Field(description="When it is due, or null.")
    completed_at: datetime | None = Field(description="When it was last marked done; null unless done.")
    created_at: datetime
    updated_at: datetime
    created_by_app: AppOut | None = Field(description="The connected app that created it; null if the user did.")
    updated_by_app: AppOut | None = Field(description="The connected app that last changed it; null if the user did.")

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        """Times in UTC, as the REST API shows them, whatever offset they were given with."""

        def utc(moment: datetime | None) -> datetime | None:
            return moment.astimezone(UTC) if moment else None

        return cls(
            id=task.public_id,
            title=task.title,
            notes=task.notes,
            status=task.status,
            priority=task.priority,
            due_at=utc(task.due_at),
            completed_at=utc(task.completed_at),
            created_at=utc(task.created_at),
            updated_at=utc(task.updated_at),
            created_by_app=app_data(task.created_by_app),
            updated_by_app=app_data(task.updated_by_app),
        )

    def line(self) -> str:
        return task_line(self, self.id)


def task_line(task, task_id: uuid.UUID) -> str:
    """A task in one line of a tool's text, from a TaskOut or a row of a page (selectors.TaskRow)."""
    due = f", due {task.due_at.astimezone(UTC).isoformat()}" if task.due_at else ""
    return f"{task.title} [{task.status}, {task.priority} priority{due}] id {task_id}"


class TaskPageOut(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None = Field(description="Pass as `cursor`, with the same filters, for more; null at the end.")


class DeletedOut(BaseModel):
    id: uuid.UUID
    deleted: bool


# --- Running the services ---------------------------------------------------------------


def _principal_of(request) -> Principal | None:
    return request.scope.get(PRINCIPAL) if request is not None else None


def _principal(ctx: Context) -> Principal:
    principal = _principal_of(ctx.request_context.request)
    if principal is None:  # tasks.mcp_auth lets no request through without one
        raise ToolError("This tool needs a signed-in user.")
    return principal


async def _call(principal: Principal, function: Callable[[], Any], *, writes: bool = True) -> Any:
    """Run a service for `principal` in this request's database thread, in a transaction if it `writes`.

    A read is one query, consistent on its own: a transaction around it would
    only add a BEGIN and a COMMIT, as in the REST API's reads.
    A refusal of the services becomes a tool error that says what is wrong;
    a task that is not the user's is one that does not exist. Anything else
    is a crash, which the SDK answers as an error result without its text,
    and which is counted as the app's error, as a 500 of the REST API is.
    """

    def in_transaction():
        with transaction.atomic():
            return function()

    try:
        return await sync_to_async(in_transaction if writes else function)()
    except ValidationError as error:
        raise ToolError(validation_sentence(error, by_field=True)) from None
    except Task.DoesNotExist:
        raise ToolError("No task with this id among yours: list_tasks shows their ids.") from None
    except Exception:
        activity.mcp_tool_failed(principal)
        raise


def _result(structured: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(text=text)], structured_content=structured.model_dump(mode="json", by_alias=True)
    )


TaskId = Annotated[uuid.UUID, Field(description="The task's id, as list_tasks or create_task return it.")]
TITLE = f"What to do, 1-{TITLE_MAX_LENGTH} characters."
NOTES = f"Details in Markdown, up to {NOTES_MAX_LENGTH:,} characters."
STATUS = "todo, in_progress or done; done records completed_at."
PRIORITY = "low, normal or high."
DUE_AT = "When it is due, ISO 8601 with a time zone offset, e.g. 2026-05-01T17:00:00+02:00."


@task_tool(
    "list_tasks", title="List tasks", scope=READ_SCOPE, read_only=True, destructive=False, idempotent=True, board=True
)
async def list_tasks(
    ctx: Context,
    status: Annotated[
        list[Status] | None, Field(description='Only these statuses; "what is still open" is ["todo", "in_progress"].')
    ] = None,
    due_after: Annotated[AwareDatetime | None, Field(description="Only tasks due at or after this time.")] = None,
    due_before: Annotated[AwareDatetime | None, Field(description="Only tasks due before this time.")] = None,
    q: Annotated[
        str | None,
        Field(max_length=selectors.QUERY_MAX_LENGTH, description="Words that must all appear in the title or notes."),
    ] = None,
    ordering: Annotated[
        Literal[tuple(selectors.ORDERINGS)],
        Field(description="due_at: soonest first, undated last; -priority: high first; -created_at: newest first."),
    ] = selectors.DEFAULT_ORDERING,
    limit: Annotated[int, Field(ge=1, le=selectors.MAX_LIMIT, description="Tasks per page.")] = selectors.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Field(max_length=1000, description="next_cursor of the previous page.")] = None,
) -> Annotated[CallToolResult, TaskPageOut]:
    """List the user's tasks, soonest due first, a page at a time, filtered as the REST API's listTasks."""
    principal = _principal(ctx)
    page = await _call(
        principal,
        lambda: selectors.task_list(
            owner=principal.user,
            status=status,
            due_after=due_after,
            due_before=due_before,
            q=q,
            ordering=ordering,
            limit=limit,
            cursor=cursor,
        ),
        writes=False,
    )
    lines = [f"- {task_line(task, task.public_id)}" for task in page.tasks]
    more = " More: call again with the next_cursor." if page.next_cursor else ""
    text = f"{len(lines)} task(s).{more}" + ("\n" + "\n".join(lines) if lines else "")
    # TaskPageOut's JSON (its outputSchema), made directly as the REST API makes its page:
    # validating and dumping a model per task cost more than reading them. A test holds
    # the two to the same output.
    structured = {"tasks": [task_data(task, UTC) for task in page.tasks], "next_cursor": page.next_cursor}
    return CallToolResult(content=[TextContent(text=text)], structured_content=structured)


@task_tool("get_task", title="Get a task", scope=READ_SCOPE, read_only=True, destructive=False, idempotent=True)
async def get_task(ctx: Context, task_id: TaskId) -> Annotated[CallToolResult, TaskOut]:
    """Get one of the user's tasks, with its notes."""
    principal = _principal(ctx)
    task = TaskOut.of(
        await _call(principal, lambda: selectors.task_get(owner=principal.user, public_id=task_id), writes=False)
    )
    return _result(task, task.line())


@task_tool(
    "create_task",
    title="Create a task",
    scope=WRITE_SCOPE,
    read_only=False,
    destructive=False,
    idempotent=False,
    board=True,
)
async def create_task(
    ctx: Context,
    title: Annotated[str, Field(max_length=TITLE_MAX_LENGTH, description=TITLE)],
    notes: Annotated[str, Field(max_length=NOTES_MAX_LENGTH, description=NOTES)] = "",
    status: Annotated[Status, Field(description=STATUS)] = Task.Status.TODO.value,
    priority: Annotated[Priority, Field(description=PRIORITY)] = Task.Priority.NORMAL.value,
    due_at: Annotated[AwareDatetime | None, Field(description=DUE_AT)] = None,
    idempotency_key: Annotated[
        str | None,
        Field(
            max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
            description="Any unique string: a retry with the same key returns the task first made, not a second one.",
        ),
    ] = None,
) -> Annotated[CallToolResult, TaskOut]:
    """Create a task for the user. Only the title is required."""
    principal = _principal(ctx)
    task, created = await _call(
        principal,
        lambda: services.task_create(
            owner=principal.user,
            title=title,
            notes=notes,
            status=status,
            priority=priority,
            due_at=due_at,
            idempotency_key=idempotency_key,
            via=via_app(application_id=principal.application_id, operation="create_task"),
        ),
    )
    out = TaskOut.of(task)
    return _result(out, ("Created " if created else "Already created with this key: ") + out.line())


@task_tool(
    "update_task",
    title="Change a task",
    scope=WRITE_SCOPE,
    read_only=False,
    destructive=False,
    idempotent=True,
    board=True,
)
async def update_task(
    ctx: Context,
    task_id: TaskId,
    title: Annotated[str | None, Field(max_length=TITLE_MAX_LENGTH, description=TITLE)] = None,
    notes: Annotated[str | None, Field(max_length=NOTES_MAX_LENGTH, description=NOTES)] = None,
    status: Annotated[Status | None, Field(description=STATUS)] = None,
    priority: Annotated[Priority | None, Field(description=PRIORITY)] = None,
    due_at: Annotated[AwareDatetime | None, Field(description=DUE_AT)] = None,
    clear_due_at: Annotated[bool, Field(description="True to remove the due date.")] = False,
) -> Annotated[CallToolResult, TaskOut]:
    """Change some fields of a task; leave out the others. Setting status to done records completed_at."""
    principal = _principal(ctx)
    if clear_due_at and due_at is not None:
        raise ToolError("Give either due_at or clear_due_at, not both.")
    changes = {
        name: value
        for name, value in {
            "title": title,
            "notes": notes,
            "status": status,
            "priority": priority,
            "due_at": due_at,
        }.items()
        if value is not None
    }
    if clear_due_at:
        changes["due_at"] = None

    def update() -> Task:
        task = selectors.task_get(owner=principal.user, public_id=task_id)
        via = via_app(application_id=principal.application_id, operation="update_task")
        return services.task_update(task=task, **changes, via=via)

    out = TaskOut.of(await _call(principal, update))
    return _result(out, "Updated " + out.line())


@task_tool(
    "complete_task",
    title="Complete a task",
    scope=WRITE_SCOPE,
    read_only=False,
    destructive=False,
    idempotent=True,
    board=True,
)
async def complete_task(ctx: Context, task_id: TaskId) -> Annotated[CallToolResult, TaskOut]:
    """Mark a task as done. Completing a done task changes nothing."""
    principal = _principal(ctx)

    def complete() -> Task:
        task = selectors.task_get(owner=principal.user, public_id=task_id)
        return services.task_complete(
            task=task, via=via_app(application_id=principal.application_id, operation="complete_task")
        )

    out = TaskOut.of(await _call(principal, complete))
    return _result(out, "Completed " + out.line())


@task_tool("delete_task", title="Delete a task", scope=WRITE_SCOPE, read_only=False, destructive=True, idempotent=True)
async def delete_task(ctx: Context, task_id: TaskId) -> Annotated[CallToolResult, DeletedOut]:
    """Delete a task for good. It cannot be undone: to close a task, use complete_task instead."""
    principal = _principal(ctx)

    def delete() -> None:
        task = selectors.task_get(owner=principal.user, public_id=task_id)
        services.task_delete(task=task, via=via_app(application_id=principal.application_id, operation="delete_task"))

    await _call(principal, delete)
    return _result(DeletedOut(id=task_id, deleted=True), f"Deleted task {task_id}.")


# --- The task board (MCP Apps) and the server ------------------------------------------


@functools.cache
def mcp_server() -> MCPServer:
    """The MCP server with the task tools and the task board, built once per process, when first served."""
    apps = Apps()
    # The MCP Apps extension (io.modelcontextprotocol/ui): the task board and the tools bound to it.
    # Registered whatever the client: a stateless server never sees the client's
    # capabilities, and hosts without widgets ignore `_meta.ui` and read the text.
    for function, options, board in _TOOLS:
        if board:
            apps.tool(resource_uri=TASK_BOARD_URI, visibility=BOARD_TOOL_VISIBILITY, **options)(function)
    apps.add_html_resource(
        TASK_BOARD_URI,
        task_board_html(),
        name="task-board",
        title="Task board",
        description="The user's tasks grouped by status, to complete or add tasks in the conversation.",
        # The board fetches nothing: all it shows comes over the host's bridge, and
        # its tool calls travel over the host's own connection. Saying so
        # explicitly gives it the strictest policy a host offers.
        csp=ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[]),
        # A list of cards with no frame of its own: the host's border sets it off from the chat.
        prefers_border=True,
    )
    server = MCPServer(
        name="taskgate",
        title="Taskgate",
        version=__version__,
        instructions=(
            "Taskgate keeps the user's tasks. List them (filter by status, due date or words), read one, create, "
            "change, complete or delete them. Times carry a time zone offset. Deleting cannot be undone: to close a "
            "task, complete it."
        ),
        # Nothing is pushed to clients, and stateless workers share no subscriptions.
        subscriptions=False,
        # Extensions are read once, here: every tool bound to the board is registered above.
        extensions=[apps],
    )
    for function, options, board in _TOOLS:
        if not board:
            server.tool(**options)(function)
    # The SDK serves prompts/list and prompts/get whatever a server has, and so declares the
    # prompts capability; we have no prompts, so neither is served (MCP lifecycle: a server
    # declares what it offers). The handlers are the SDK's internals, touched here only;
    # tests/tasks/test_mcp_protocol.py fails loudly if they move.
    for method in ("prompts/list", "prompts/get"):
        server._lowlevel_server._request_handlers.pop(method)
    server.middleware.append(check_tool_call)
    return server


def transport_security() -> TransportSecuritySettings:
    """DNS rebinding protection (MCP transport security): the hosts Django answers to, and our own origin."""
    if "*" in settings.ALLOWED_HOSTS:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = [host.lstrip(".") for host in settings.ALLOWED_HOSTS]
    return TransportSecuritySettings(
        allowed_hosts=[*hosts, *(f"{host}:*" for host in hosts)],
        allowed_origins=[settings.SITE_URL],
    )


def without_standalone_stream(app: ASGIApp) -> ASGIApp:
    """Answer GET with 405: this server offers no stream of its own (MCP streamable HTTP, "Listening for
    Messages from the Server": a server that does not "MUST return HTTP 405 Method Not Allowed").

    Stateless, it has nothing to send outside a response: no session, no
    subscription, no request of its own to a client. A GET stream would stay
    open, empty, for as long as the client likes, and under the production
    server (config.wsgi) it would hold one of a worker's few threads.
    """

    async def serve(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = b'{"error": "method_not_allowed", "error_description": "This server offers no SSE stream: POST."}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [
                        (b"allow", b"POST"),
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return serve


def http_app() -> tuple[ASGIApp, ASGIApp]:
    """(the app for /mcp requests, the app for ASGI lifespan events).

    Stateless with JSON responses: no session lives in a process, so
    consecutive requests of one client may reach different workers.
    """
    starlette_app = mcp_server().streamable_http_app(
        streamable_http_path=settings.MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(),
    )
    authorized = BearerAuth(without_standalone_stream(starlette_app), tool_scopes=TOOL_SCOPES)
    return with_cors(authorized), starlette_app


def _origin_checked_by_cors(app: ASGIApp) -> ASGIApp:
    """The request without its Origin header, for the SDK's transport security.

    Its DNS rebinding protection checks Host (kept: a rebinding page brings
    its own host name) and refuses any Origin but ours, which would turn
    away the browser clients that CORS lets in on purpose. Nothing here rides
    on the browser's cookies: every request carries its bearer token.
    """

    async def serve(scope, receive, send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [(name, value) for name, value in scope["headers"] if name != b"origin"]}
        await app(scope, receive, send)

    return serve


def with_cors(app: ASGIApp) -> ASGIApp:
    """CORS for MCP clients that run in a browser (MCP Inspector, web playgrounds), as
    settings.CORS_* give the provider's public endpoints: any origin, never credentials
    (a bearer token is no cookie), the MCP headers allowed and the challenge exposed.
    Outermost, so that a preflight (which carries no token) is answered before authorization,
    and a 401's WWW-Authenticate is readable."""
    return CORSMiddleware(
        _origin_checked_by_cors(app),
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=settings.CORS_ALLOW_HEADERS,
        expose_headers=settings.CORS_EXPOSE_HEADERS,
    )
