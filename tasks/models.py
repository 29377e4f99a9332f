from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

TITLE_MAX_LENGTH = 200
NOTES_MAX_LENGTH = 10_000
IDEMPOTENCY_KEY_MAX_LENGTH = 100


class TaskQuerySet(models.QuerySet):
    def with_apps(self) -> TaskQuerySet:
        """With the client ID and name of the apps that created and last changed each task, joined in the
        same query (a list stays one query), and none of the apps' other columns."""
        fields = [field.name for field in Task._meta.concrete_fields]
        related = [f"{app}__{field}" for app in ("created_by_app", "updated_by_app") for field in ("client_id", "name")]
        return self.select_related("created_by_app", "updated_by_app").only(*fields, *related)


class Task(models.Model):
    """One thing a person means to do. Written only through tasks.services.

    `public_id` is the only id that leaves the server (URLs, API, MCP); the
    database id stays inside.
    """

    class Status(models.TextChoices):
        TODO = "todo", "To do"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    # No index of its own: every index below starts with the owner.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    public_id = models.UUIDField("public id", default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, help_text="Markdown.")
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.TODO)
    priority = models.CharField(max_length=6, choices=Priority.choices, default=Priority.NORMAL)
    # The priority as a number, computed by the database, so that "by priority"
    # sorts low < normal < high (the words sort alphabetically) and an index can serve it.
    priority_rank = models.GeneratedField(
        expression=Case(
            When(priority=Priority.LOW, then=Value(0)),
            When(priority=Priority.NORMAL, then=Value(1)),
            When(priority=Priority.HIGH, then=Value(2)),
            default=Value(1),
        ),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    due_at = models.DateTimeField("due", null=True, blank=True)
    completed_at = models.DateTimeField("completed", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("created", default=timezone.now, editable=False)
    updated_at = models.DateTimeField("updated", auto_now=True)
    # The connected app that created the task and the one that last changed it; empty when the
    # person did it themself (the docs page, the admin). Emptied if the app is deleted.
    created_by_app = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name="created by app",
    )
    updated_by_app = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name="last changed by app",
    )
    # NULL, not "", for "no key": the unique constraint below skips NULLs only.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        null=True,
        blank=True,
        editable=False,
        help_text="Sent by a client with a creation; the same key again returns this task.",
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        constraints = [
            # The database, not a read before the write, makes a repeated
            # creation return the first task, also under concurrent requests.
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="tasks_task_owner_idempotency_key_unique",
            ),
        ]
        # Each serves one ordering of tasks_list (the last column breaks ties,
        # for stable pages); the status one serves "what is still open".
        indexes = [
            models.Index(fields=["owner", "created_at", "public_id"], name="tasks_owner_created_idx"),
            models.Index(fields=["owner", "due_at", "created_at", "public_id"], name="tasks_owner_due_idx"),
            models.Index(fields=["owner", "priority_rank", "due_at"], name="tasks_owner_priority_idx"),
            models.Index(fields=["owner", "status", "due_at"], name="tasks_owner_status_due_idx"),
        ]

    def __str__(self) -> str:
        return self.title
