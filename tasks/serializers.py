"""The task API's JSON: parse requests into Python values, shape tasks into answers.

The rules (lengths, transitions, idempotency) are tasks.services'; the
limits stated here come from the same constants, so that the OpenAPI
document tells a client what the services will accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils import timezone
from rest_framework import serializers

from tasks import selectors
from tasks.models import IDEMPOTENCY_KEY_MAX_LENGTH, NOTES_MAX_LENGTH, TITLE_MAX_LENGTH, Task
from tasks.selectors import DEFAULT_LIMIT, DEFAULT_ORDERING, MAX_LIMIT, ORDERINGS, QUERY_MAX_LENGTH

_EXAMPLE_TIME = "2026-05-01T17:00:00+02:00"


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that must carry its offset (`Z` or `+02:00`).

    DRF would read a time without one in the server's time zone; a person's
    "5 pm" is not the server's, so such a time is refused instead.
    """

    default_error_messages = {
        "naive": f"Give a time zone offset, e.g. {_EXAMPLE_TIME} or 2026-05-01T15:00:00Z.",
        "invalid": f"Give a date and time in ISO 8601 with a time zone offset, e.g. {_EXAMPLE_TIME}.",
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class TextField(serializers.CharField):
    """A JSON string, and only a string: DRF would turn 12 into "12"."""

    default_error_messages = {"invalid": "Give a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so that a typo is never silently ignored."""

    read_only_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        errors: dict = {}
        value = None
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, Mapping):
                raise
            errors.update(exc.detail)
        if isinstance(data, Mapping):
            for name in sorted(set(data) - set(self.fields)):
                if name in self.read_only_fields:
                    errors[name] = ["This field is read-only: leave it out."]
                else:
                    known = ", ".join(self.fields)
                    errors[name] = [f"Unknown field. Known fields: {known}."]
        if errors:
            raise serializers.ValidationError(errors)
        return value


# --- Answers ---------------------------------------------------------------------


class AppSerializer(serializers.Serializer):
    client_id = serializers.CharField(read_only=True, help_text="The app's OAuth client ID.")
    name = serializers.CharField(read_only=True, help_text="The app's name, as the person saw it when allowing it.")


class TaskSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", read_only=True, help_text="The task's id, used in its URL.")
    title = serializers.CharField(read_only=True)
    notes = serializers.CharField(read_only=True, help_text="Markdown.")
    status = serializers.ChoiceField(choices=Task.Status.choices, read_only=True)
    priority = serializers.ChoiceField(choices=Task.Priority.choices, read_only=True)
    due_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="When it is due, or null.")
    completed_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When it was last marked done; null unless the status is done."
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    created_by_app = AppSerializer(
        read_only=True, allow_null=True, help_text="The connected app that created the task; null if the user did."
    )
    updated_by_app = AppSerializer(
        read_only=True, allow_null=True, help_text="The connected app that last changed it; null if the user did."
    )


_TASK_OUTPUT_FIELDS = frozenset(TaskSerializer().fields)


def _moment(value, zone=None):
    """A time as DRF's DateTimeField shows it: ISO 8601 in the current time zone (`zone`), `Z` for UTC."""
    if value is None:
        return None
    if value.tzinfo is not zone:
        value = value.astimezone(zone)
    shown = value.isoformat()
    return shown.removesuffix("+00:00") + "Z" if shown.endswith("+00:00") else shown


def task_data(task: Task, zone=None) -> dict:
    """TaskSerializer's output for one task (or a selectors.TaskRow of a page), made directly.

    The list answers up to 100 tasks, and DRF's field machinery, run per
    field and per task, cost more than the query that read them
    (benchmarks/README.md). TaskSerializer stays the description of this
    shape in the OpenAPI document; a test holds the two to the same output.
    `zone`: the current time zone, which a caller making a page looks up once.
    """
    zone = zone or timezone.get_current_timezone()
    return {
        "id": str(task.public_id),
        "title": task.title,
        "notes": task.notes,
        "status": str(task.status),
        "priority": str(task.priority),
        "due_at": _moment(task.due_at, zone),
        "completed_at": _moment(task.completed_at, zone),
        "created_at": _moment(task.created_at, zone),
        "updated_at": _moment(task.updated_at, zone),
        "created_by_app": app_data(task.created_by_app),
        "updated_by_app": app_data(task.updated_by_app),
    }


def app_data(application) -> dict | None:
    """AppSerializer's output: the app's client ID and name (a Task's app, or a selectors.TaskRow's AppRef)."""
    return {"client_id": application.client_id, "name": application.name} if application is not None else None


def task_page_data(tasks) -> list[dict]:
    """task_data of each task of a page."""
    zone = timezone.get_current_timezone()
    return [task_data(task, zone) for task in tasks]


class TaskPageSerializer(serializers.Serializer):
    results = TaskSerializer(many=True, read_only=True)
    next = serializers.URLField(read_only=True, allow_null=True, help_text="The next page's URL; null on the last.")
    next_cursor = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Pass as `cursor` (same filters) for the next page; null on the last page.",
    )


class MeSerializer(serializers.Serializer):
    sub = serializers.UUIDField(read_only=True, help_text="The person's stable id (the OpenID Connect subject).")
    name = serializers.CharField(read_only=True, allow_null=True, help_text="Null without the `profile` scope.")
    email = serializers.EmailField(read_only=True, allow_null=True, help_text="Null without the `email` scope.")
    scopes = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="What the token may do, e.g. tasks:read."
    )


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A code, e.g. invalid_token or not_found.")
    detail = serializers.CharField(help_text="What went wrong, in a sentence.")


class ValidationErrorSerializer(ErrorSerializer):
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For each bad field, what is wrong with it.",
    )


class InsufficientScopeErrorSerializer(ErrorSerializer):
    scope = serializers.CharField(help_text="The scope the request needs.")


# --- Requests --------------------------------------------------------------------


def _title(**kwargs) -> TextField:
    # The length is checked on the text as sent, as the schema's maxLength says;
    # the service then strips the spaces around it.
    return TextField(
        max_length=TITLE_MAX_LENGTH, trim_whitespace=False, help_text="What to do, 1-200 characters.", **kwargs
    )


def _notes(**kwargs) -> TextField:
    return TextField(
        max_length=NOTES_MAX_LENGTH,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Details in Markdown, up to 10,000 characters.",
        **kwargs,
    )


def _due_at(**kwargs) -> AwareDateTimeField:
    return AwareDateTimeField(
        allow_null=True, help_text=f"When it is due, with a time zone offset, e.g. {_EXAMPLE_TIME}.", **kwargs
    )


class TaskCreateSerializer(StrictSerializer):
    """A new task. Fields other than these are refused."""

    read_only_fields = _TASK_OUTPUT_FIELDS

    title = _title()
    notes = _notes(required=False)
    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    due_at = _due_at(required=False)
    idempotency_key = TextField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        required=False,
        help_text="Any unique string; sending it again returns the task first created with it, not a new one.",
    )


class TaskUpdateSerializer(StrictSerializer):
    """The fields to change; the others stay as they are. Fields other than these are refused."""

    read_only_fields = _TASK_OUTPUT_FIELDS | {"idempotency_key"}

    title = _title(required=False)
    notes = _notes(required=False)
    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    due_at = _due_at(required=False)


class StatusListField(serializers.Field):
    """`status=todo,in_progress`, or the parameter repeated: `status=todo&status=in_progress`
    (tasks.selectors.statuses_of reads both)."""

    default_error_messages = {"empty": "Give at least one status, or leave the parameter out."}

    def to_internal_value(self, data) -> list[str]:
        statuses = selectors.statuses_of(data if isinstance(data, list) else [data])
        if not any(statuses):
            self.fail("empty")
        problem = selectors.unknown_status_problem(statuses)
        if problem:
            raise serializers.ValidationError(problem)
        return statuses


class TaskListQuerySerializer(serializers.Serializer):
    """The query parameters of listTasks.

    Built with `from_query`, so that an empty parameter (`due_before=`) is
    refused like any bad value: DRF's form handling would drop it silently.
    """

    status = StatusListField(required=False)
    due_before = AwareDateTimeField(required=False)
    due_after = AwareDateTimeField(required=False)
    q = serializers.CharField(required=False, allow_blank=True, max_length=QUERY_MAX_LENGTH)
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), default=DEFAULT_ORDERING)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, max_length=1000)

    @classmethod
    def from_query(cls, query_params) -> TaskListQuerySerializer:
        # Every parameter's last value, but all of `status`'s.
        data = {key: values if key == "status" else values[-1] for key, values in query_params.lists()}
        return cls(data=data)
