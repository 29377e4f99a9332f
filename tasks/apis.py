"""The task REST API: parse, call tasks.services / tasks.selectors, shape the answer.

Described for GPT Actions by drf-spectacular (see tasks/schema.py): each
operation's summary and description stay within the GPT Action limits (300
characters), and `x-openai-isConsequential` is set on purpose for each.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp import activity
from idp.activity.records import Via, via_app
from tasks import selectors, services
from tasks.authentication import HasTaskScope, TaskTokenAuthentication
from tasks.models import Task
from tasks.serializers import (
    ErrorSerializer,
    InsufficientScopeErrorSerializer,
    MeSerializer,
    TaskCreateSerializer,
    TaskListQuerySerializer,
    TaskPageSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
    ValidationErrorSerializer,
    task_data,
    task_page_data,
)

# x-openai-isConsequential: true makes ChatGPT ask every time, with no
# "always allow". Deleting cannot be undone, so it always asks; a creation,
# a change or a completion can be undone by another call, so the person may
# allow them once and for all; reads never ask.
_CONSEQUENTIAL = {"x-openai-isConsequential": True}
_NOT_CONSEQUENTIAL = {"x-openai-isConsequential": False}

_UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="No access token, or a bad or expired one.")
_FORBIDDEN = OpenApiResponse(InsufficientScopeErrorSerializer, description="The token lacks the scope needed.")
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No task with this id among yours.")
_BAD_REQUEST = OpenApiResponse(ValidationErrorSerializer, description="Bad input; `fields` says what, per field.")

_TASK_ID = OpenApiParameter(
    "task_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The task's `id`, from listTasks or createTask."
)
_CREATE_EXAMPLE = OpenApiExample(
    "A task due on Friday",
    value={
        "title": "Renew my passport",
        "notes": "Bring the **old passport** and two photos.",
        "priority": "high",
        "due_at": "2026-05-01T17:00:00+02:00",
        "idempotency_key": "3f1b2c9e-renew-passport",
    },
    request_only=True,
)
_UPDATE_EXAMPLE = OpenApiExample(
    "Move the due date and start",
    value={"status": "in_progress", "due_at": "2026-05-08T17:00:00+02:00"},
    request_only=True,
)


class TaskApiView(APIView):
    """Bearer tokens of this provider, or the browser session (the docs page); JSON only."""

    authentication_classes = [TaskTokenAuthentication, SessionAuthentication]
    permission_classes = [HasTaskScope]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    # No OPTIONS answers: nothing in a browser calls this API across origins.
    metadata_class = None

    @method_decorator(transaction.non_atomic_requests)
    def dispatch(self, request, *args, **kwargs):
        """A write runs in one transaction, as ATOMIC_REQUESTS would run it (DRF's exception
        handler rolls it back on an error). A read needs none: its one query sees one
        snapshot anyway, and a transaction would cost a BEGIN and a COMMIT on every GET.
        Within a caller's transaction, a read too gets a savepoint of its own, which DRF's
        exception handler then rolls back instead of the caller's."""
        if request.method in SAFE_METHODS and not transaction.get_connection().in_atomic_block:
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        activity.api_request_counted(request, response.status_code)
        return response

    def handle_exception(self, exc):
        activity.api_exception_counted(self.request, exc)
        return super().handle_exception(exc)


def _via(request: Request, operation: str) -> Via:
    """The token's app (none for the docs page's session) and the REST operation id, for tasks.services."""
    return via_app(application_id=getattr(request.auth, "application_id", None), operation=operation)


def _task_of(request: Request, task_id: str) -> Task:
    try:
        return selectors.task_get(owner=request.user, public_id=task_id)
    except Task.DoesNotExist:
        raise NotFound("No task with this id.") from None


def _task_url(task: Task) -> str:
    return settings.SITE_URL + reverse("api:task-detail", kwargs={"task_id": task.public_id})


# A GPT Action fails on a response of more than about 100,000 characters: a
# page of tasks ends early (with next_cursor) before its JSON passes this.
PAGE_MAX_CHARACTERS = 90_000
# What a task's JSON adds to its title and notes (ids, URL, times, field names), at most.
_TASK_JSON_OVERHEAD = 700


def _fitting(results: list[dict]) -> int:
    """How many of `results` fit in PAGE_MAX_CHARACTERS of JSON: all, unless their notes are long.

    The sum of text lengths (times 6, JSON's longest escape) bounds the size
    cheaply; only a page that might pass the limit is measured exactly.
    """
    bound = sum(6 * (len(row["title"]) + len(row["notes"])) + _TASK_JSON_OVERHEAD for row in results)
    if bound <= PAGE_MAX_CHARACTERS:
        return len(results)
    size = 0
    for count, row in enumerate(results):
        size += len(json.dumps(row)) + 1
        if size > PAGE_MAX_CHARACTERS:
            return max(count, 1)
    return len(results)


class TaskListCreateApi(TaskApiView):
    @extend_schema(
        operation_id="listTasks",
        summary="List the user's tasks, filtered and sorted, a page at a time",
        description=(
            "The user's tasks, soonest due first by default, filtered by status, due dates or words. "
            "A page of long notes ends early. If `next_cursor` is not null, call again with it as `cursor`."
        ),
        parameters=[
            OpenApiParameter(
                "status",
                {"type": "array", "items": {"type": "string", "enum": Task.Status.values}},
                style="form",
                explode=False,
                description='Only these statuses, comma-separated. "What is still open" is `todo,in_progress`.',
            ),
            OpenApiParameter(
                "due_after",
                OpenApiTypes.DATETIME,
                description="Only tasks due at or after this time (ISO 8601 with offset, e.g. 2026-04-27T00:00:00Z).",
            ),
            OpenApiParameter(
                "due_before",
                OpenApiTypes.DATETIME,
                description="Only tasks due before this time (ISO 8601 with offset). Tasks without a due date are "
                "left out when due_after or due_before is given.",
            ),
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": selectors.QUERY_MAX_LENGTH},
                description="Words that must all appear in the title or notes (any case), e.g. passport.",
            ),
            OpenApiParameter(
                "ordering",
                str,
                enum=list(selectors.ORDERINGS),
                default=selectors.DEFAULT_ORDERING,
                description="due_at: soonest due first, undated last. -priority: high first. -created_at: newest "
                "first. A leading - reverses.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": selectors.MAX_LIMIT},
                default=selectors.DEFAULT_LIMIT,
                description=f"Tasks per page, 1 to {selectors.MAX_LIMIT}.",
            ),
            OpenApiParameter(
                "cursor",
                {"type": "string", "minLength": 1, "maxLength": 1000},
                description="The `next_cursor` of the previous page; keep the other parameters.",
            ),
        ],
        responses={
            HTTPStatus.OK: TaskPageSerializer,
            HTTPStatus.BAD_REQUEST: _BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
        },
        extensions=_NOT_CONSEQUENTIAL,
    )
    def get(self, request: Request) -> Response:
        filters = {}
        if request.query_params:
            # Without parameters (the usual first page) there is nothing to validate:
            # the selector's defaults are the serializer's.
            query = TaskListQuerySerializer.from_query(request.query_params)
            query.is_valid(raise_exception=True)
            filters = query.validated_data
        page = selectors.task_list(owner=request.user, **filters)
        results = task_page_data(page.tasks)
        next_cursor = page.next_cursor
        fitting = _fitting(results)
        if fitting < len(results):
            results = results[:fitting]
            ordering = filters.get("ordering", selectors.DEFAULT_ORDERING)
            next_cursor = selectors.task_page_cursor(ordering=ordering, task=page.tasks[fitting - 1])
        next_url = None
        if next_cursor:
            params = request.query_params.copy()
            params["cursor"] = next_cursor
            next_url = f"{settings.SITE_URL}{request.path}?{urlencode(list(params.lists()), doseq=True)}"
        return Response({"results": results, "next": next_url, "next_cursor": next_cursor})

    @extend_schema(
        operation_id="createTask",
        summary="Create a task for the user",
        description=(
            "Only `title` is required. Send `due_at` with a time zone offset. Send a fresh `idempotency_key` "
            "so that a retry returns the same task (200) instead of creating a second one (201)."
        ),
        request=TaskCreateSerializer,
        examples=[_CREATE_EXAMPLE],
        responses={
            HTTPStatus.CREATED: OpenApiResponse(TaskSerializer, description="The new task."),
            HTTPStatus.OK: OpenApiResponse(TaskSerializer, description="The task first created with this key."),
            HTTPStatus.BAD_REQUEST: _BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
        },
        extensions=_NOT_CONSEQUENTIAL,
    )
    def post(self, request: Request) -> Response:
        body = TaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task, created = services.task_create(owner=request.user, **body.validated_data, via=_via(request, "createTask"))
        if not created:
            return Response(task_data(task), status=HTTPStatus.OK)
        return Response(task_data(task), status=HTTPStatus.CREATED, headers={"Location": _task_url(task)})


class TaskDetailApi(TaskApiView):
    @extend_schema(
        operation_id="getTask",
        summary="Get one of the user's tasks",
        description="Returns the task with this id, with its notes.",
        parameters=[_TASK_ID],
        responses={
            HTTPStatus.OK: TaskSerializer,
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
            HTTPStatus.NOT_FOUND: _NOT_FOUND,
        },
        extensions=_NOT_CONSEQUENTIAL,
    )
    def get(self, request: Request, task_id: str) -> Response:
        return Response(task_data(_task_of(request, task_id)))

    @extend_schema(
        operation_id="updateTask",
        summary="Change some fields of a task",
        description=(
            "Send only the fields to change. `due_at: null` removes the due date. Setting `status` to done "
            "records `completed_at`; setting it back to todo or in_progress clears it."
        ),
        parameters=[_TASK_ID],
        request=TaskUpdateSerializer,
        examples=[_UPDATE_EXAMPLE],
        responses={
            HTTPStatus.OK: TaskSerializer,
            HTTPStatus.BAD_REQUEST: _BAD_REQUEST,
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
            HTTPStatus.NOT_FOUND: _NOT_FOUND,
        },
        extensions=_NOT_CONSEQUENTIAL,
    )
    def patch(self, request: Request, task_id: str) -> Response:
        task = _task_of(request, task_id)
        body = TaskUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = services.task_update(task=task, **body.validated_data, via=_via(request, "updateTask"))
        return Response(task_data(task))

    @extend_schema(
        operation_id="deleteTask",
        summary="Delete a task for good",
        description="Deletes the task with this id. It cannot be undone: to close a task, use completeTask instead.",
        parameters=[_TASK_ID],
        responses={
            HTTPStatus.NO_CONTENT: OpenApiResponse(description="Deleted."),
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
            HTTPStatus.NOT_FOUND: _NOT_FOUND,
        },
        extensions=_CONSEQUENTIAL,
    )
    def delete(self, request: Request, task_id: str) -> Response:
        services.task_delete(task=_task_of(request, task_id), via=_via(request, "deleteTask"))
        return Response(status=HTTPStatus.NO_CONTENT)


class TaskCompleteApi(TaskApiView):
    @extend_schema(
        operation_id="completeTask",
        summary="Mark a task as done",
        description="Sets the status to done and records `completed_at`. Completing a done task changes nothing.",
        parameters=[_TASK_ID],
        request=None,
        responses={
            HTTPStatus.OK: TaskSerializer,
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
            HTTPStatus.NOT_FOUND: _NOT_FOUND,
        },
        extensions=_NOT_CONSEQUENTIAL,
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = services.task_complete(task=_task_of(request, task_id), via=_via(request, "completeTask"))
        return Response(task_data(task))


class MeApi(TaskApiView):
    @extend_schema(
        operation_id="getMe",
        summary="Who the token acts for",
        description=(
            "Returns the signed-in user's id and the scopes granted; their name and email only when the "
            "profile and email scopes were granted too."
        ),
        responses={
            HTTPStatus.OK: MeSerializer,
            HTTPStatus.UNAUTHORIZED: _UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: _FORBIDDEN,
        },
        extensions=_NOT_CONSEQUENTIAL,
    )
    def get(self, request: Request) -> Response:
        user = request.user
        token = request.auth
        # The browser session is the person themself: everything is theirs to see.
        scopes = sorted(token.scopes) if token is not None else sorted(settings.TASK_SCOPES)
        sees_all = token is None
        return Response(
            {
                "sub": user.sub,
                "name": user.display_name if sees_all or "profile" in scopes else None,
                "email": user.email if sees_all or "email" in scopes else None,
                "scopes": scopes,
            }
        )
