"""Writes for tasks: every rule about a task lives here.

The REST API and the MCP tools call these functions and nothing else to
change a task. Each one validates its input and raises
`django.core.exceptions.ValidationError` keyed by field name, with a sentence
per problem, before anything is written; the caller shapes that into its own
error format.

A write through the API or /mcp names its `via` (the connected app and the
operation): the task remembers the app that created it and the one that last
changed it, and the write leaves an activity record in its own transaction.
Without `via` (the admin, a shell) no app is named and nothing is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from idp.activity.records import Via, activity_record
from idp.models import ActivityRecord, Application
from tasks.models import IDEMPOTENCY_KEY_MAX_LENGTH, NOTES_MAX_LENGTH, TITLE_MAX_LENGTH, Task
from tasks.validation import FieldErrors


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""The default of task_update's arguments: "leave this field as it is" (None clears due_at)."""


def _check_text(errors: FieldErrors, field: str, value: object, *, max_length: int, required: bool) -> str:
    if not isinstance(value, str):
        errors.add(field, "Give text.")
        return ""
    if "\x00" in value:
        errors.add(field, "Must not contain the NUL character.")
    text = value.strip() if required else value
    if required and not text:
        errors.add(field, "Give at least one character that is not a space.")
    if len(text) > max_length:
        errors.add(field, f"Use at most {max_length:,} characters (this has {len(text):,}).")
    return text


def _check_choice(errors: FieldErrors, field: str, value: object, choices: type[Task.Status | Task.Priority]) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        errors.add(field, f"{value!r} is not one of: {allowed}.")
    return str(value)


def _check_due_at(errors: FieldErrors, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        errors.add("due_at", "Give a date and time with a time zone, e.g. 2026-05-01T17:00:00+02:00.")
        return None
    if timezone.is_naive(value):
        # A naive time means a different moment to every reader: refuse to guess.
        errors.add("due_at", "Give a time zone offset, e.g. 2026-05-01T17:00:00+02:00 or 2026-05-01T15:00:00Z.")
    return value


def _check_idempotency_key(errors: FieldErrors, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > IDEMPOTENCY_KEY_MAX_LENGTH:
        errors.add("idempotency_key", f"Give 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters, or leave it out.")
        return None
    if not value.isprintable() or value != value.strip():
        errors.add("idempotency_key", "Use printable characters without leading or trailing spaces.")
    return value


def _completed_at_for(*, status: str, previous_status: str | None, completed_at: datetime | None) -> datetime | None:
    """`completed_at` is set when a task becomes done and cleared when it is reopened."""
    if status != Task.Status.DONE:
        return None
    if previous_status == Task.Status.DONE and completed_at is not None:
        return completed_at
    return timezone.now()


def task_create(
    *,
    owner: User,
    title: str,
    notes: str = "",
    status: str = Task.Status.TODO,
    priority: str = Task.Priority.NORMAL,
    due_at: datetime | None = None,
    idempotency_key: str | None = None,
    via: Via | None = None,
) -> tuple[Task, bool]:
    """Create a task for `owner`; returns `(task, created)`.

    With an `idempotency_key` the owner already used, nothing is created: the
    task first made with that key comes back with `created=False`, whatever
    the other arguments say. This holds under concurrent requests: the
    database's unique constraint on (owner, idempotency_key) decides which
    request creates, and the others read its row.

    A task created as done gets `completed_at` now. Raises ValidationError
    (per field) on a blank or too long title (1-200 characters after
    trimming), notes over 10,000 characters, an unknown status or priority,
    or a `due_at` without a time zone.
    """
    errors = FieldErrors()
    title = _check_text(errors, "title", title, max_length=TITLE_MAX_LENGTH, required=True)
    notes = _check_text(errors, "notes", notes, max_length=NOTES_MAX_LENGTH, required=False)
    status = _check_choice(errors, "status", status, Task.Status)
    priority = _check_choice(errors, "priority", priority, Task.Priority)
    due_at = _check_due_at(errors, due_at)
    idempotency_key = _check_idempotency_key(errors, idempotency_key)
    errors.raise_if_any()

    # One transaction for the write and its record; inside the caller's, no savepoint of its own.
    with transaction.atomic(savepoint=False):
        task, created = _create(
            owner=owner,
            title=title,
            notes=notes,
            status=status,
            priority=priority,
            due_at=due_at,
            idempotency_key=idempotency_key,
            app=via.application if via else None,
        )
        if via is not None:
            outcome = ActivityRecord.Outcome.CREATED if created else ActivityRecord.Outcome.EXISTING
            activity_record(user_id=owner.pk, via=via, task=task, outcome=outcome)
    return task, created


def _create(
    *,
    owner: User,
    title: str,
    notes: str,
    status: str,
    priority: str,
    due_at: datetime | None,
    idempotency_key: str | None,
    app: Application | None,
) -> tuple[Task, bool]:
    if idempotency_key is not None:
        existing = Task.objects.filter(owner=owner, idempotency_key=idempotency_key).with_apps().first()
        if existing is not None:
            return existing, False
    task = Task(
        owner=owner,
        title=title,
        notes=notes,
        status=status,
        priority=priority,
        due_at=due_at,
        completed_at=_completed_at_for(status=status, previous_status=None, completed_at=None),
        idempotency_key=idempotency_key,
        created_by_app=app,
        updated_by_app=app,
    )
    try:
        # A savepoint: a concurrent twin's IntegrityError must not break the
        # caller's transaction (every request runs in one, ATOMIC_REQUESTS).
        with transaction.atomic():
            task.save(force_insert=True)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Another request created the task with this key between our read and
        # our write; on PostgreSQL our insert waited for it to commit.
        existing = Task.objects.filter(owner=owner, idempotency_key=idempotency_key).with_apps().first()
        if existing is None:
            raise
        return existing, False
    return task, True


def task_update(
    *,
    task: Task,
    title: str = UNSET,
    notes: str = UNSET,
    status: str = UNSET,
    priority: str = UNSET,
    due_at: datetime | None = UNSET,
    via: Via | None = None,
) -> Task:
    """Change the given fields of `task` and leave the others; `due_at=None` removes the due date.

    A change of status to done sets `completed_at`; a change away from done
    clears it. Same rules and errors as task_create; nothing is saved when any
    field is bad.
    """
    errors = FieldErrors()
    changes: dict[str, object] = {}
    if title is not UNSET:
        changes["title"] = _check_text(errors, "title", title, max_length=TITLE_MAX_LENGTH, required=True)
    if notes is not UNSET:
        changes["notes"] = _check_text(errors, "notes", notes, max_length=NOTES_MAX_LENGTH, required=False)
    if status is not UNSET:
        changes["status"] = _check_choice(errors, "status", status, Task.Status)
    if priority is not UNSET:
        changes["priority"] = _check_choice(errors, "priority", priority, Task.Priority)
    if due_at is not UNSET:
        changes["due_at"] = _check_due_at(errors, due_at)
    errors.raise_if_any()

    if "status" in changes:
        changes["completed_at"] = _completed_at_for(
            status=changes["status"], previous_status=task.status, completed_at=task.completed_at
        )
    if not changes:
        if via is not None:
            activity_record(user_id=task.owner_id, via=via, task=task, outcome=ActivityRecord.Outcome.UNCHANGED)
        return task
    completes = changes.get("status") == Task.Status.DONE and task.status != Task.Status.DONE
    for field, value in changes.items():
        setattr(task, field, value)
    # The person themself (no via) changed it last: no app did.
    task.updated_by_app = via.application if via else None
    with transaction.atomic(savepoint=False):
        task.save(update_fields=[*changes, "updated_by_app", "updated_at"])
        if via is not None:
            outcome = ActivityRecord.Outcome.COMPLETED if completes else ActivityRecord.Outcome.UPDATED
            activity_record(user_id=task.owner_id, via=via, task=task, outcome=outcome)
    return task


def task_complete(*, task: Task, via: Via | None = None) -> Task:
    """Mark `task` done. Completing a done task changes nothing (its `completed_at` stays)."""
    if task.status == Task.Status.DONE:
        if via is not None:
            activity_record(user_id=task.owner_id, via=via, task=task, outcome=ActivityRecord.Outcome.UNCHANGED)
        return task
    return task_update(task=task, status=Task.Status.DONE, via=via)


def task_delete(*, task: Task, via: Via | None = None) -> None:
    """Delete `task` for good."""
    with transaction.atomic(savepoint=False):
        if via is not None:
            activity_record(user_id=task.owner_id, via=via, task=task, outcome=ActivityRecord.Outcome.DELETED)
        task.delete()
