"""Activity records: one per write to a task through the API or /mcp, and how a person reads them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from idp.models import ActivityRecord, Application


@dataclass(frozen=True)
class Via:
    """The way a write came in: the connected app (None: the person on the docs page) and the
    operation's name, the REST operation id (createTask) or the MCP tool (create_task)."""

    application: Application | None
    operation: str


def via_app(*, application_id: int | None, operation: str) -> Via:
    """A Via for the token's app, with just what tasks show of it (client ID and name)."""
    application = None
    if application_id:
        application = Application.objects.only("id", "client_id", "name").filter(pk=application_id).first()
    return Via(application=application, operation=operation)


def activity_record(*, user_id: int, via: Via, task, outcome: str) -> ActivityRecord:
    """Record a write; call it inside the write's transaction, so that both stay or both go."""
    return ActivityRecord.objects.create(
        user_id=user_id,
        application=via.application,
        application_label=via.application.name if via.application else "",
        operation=via.operation,
        task_public_id=task.public_id,
        task_title=task.title[:200],
        outcome=outcome,
    )


# --- What a person reads on /account ---------------------------------------------------

# The outcomes a summary tells, in this order, with their words; the others change nothing.
_TOLD = (
    (ActivityRecord.Outcome.CREATED, "added"),
    (ActivityRecord.Outcome.UPDATED, "changed"),
    (ActivityRecord.Outcome.COMPLETED, "completed"),
    (ActivityRecord.Outcome.DELETED, "deleted"),
)
SUMMARY_DAYS = 7


def _in_words(counts: dict[str, int]) -> str:
    """{"created": 3, "completed": 1} -> "added 3 tasks, completed 1"."""
    parts = []
    for outcome, verb in _TOLD:
        number = counts.get(outcome, 0)
        if number:
            noun = (" task" if number == 1 else " tasks") if not parts else ""
            parts.append(f"{verb} {number}{noun}")
    return ", ".join(parts)


def _start_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def activity_summaries(*, user, application_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """For each app, what it did for the person lately, in a sentence: today, else in the last 7 days.

    One query for all the person's apps.
    """
    now = now or timezone.now()
    today = _start_of_today(now)
    rows = (
        ActivityRecord.objects.filter(
            user=user, application_id__in=application_ids, created_at__gte=now - timedelta(days=SUMMARY_DAYS)
        )
        .values("application_id", "outcome")
        .annotate(in_week=Count("id"), on_day=Count("id", filter=Q(created_at__gte=today)))
        .order_by()
    )
    on_day: dict[int, dict[str, int]] = defaultdict(dict)
    in_week: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        in_week[row["application_id"]][row["outcome"]] = row["in_week"]
        on_day[row["application_id"]][row["outcome"]] = row["on_day"]
    summaries = {}
    for application_id in application_ids:
        if words := _in_words(on_day.get(application_id, {})):
            summaries[application_id] = f"Today: {words}."
        elif words := _in_words(in_week.get(application_id, {})):
            summaries[application_id] = f"Last {SUMMARY_DAYS} days: {words}."
        else:
            summaries[application_id] = f"No changes to your tasks in the last {SUMMARY_DAYS} days."
    return summaries


def activity_records_of(*, user, application: Application | None = None):
    """The person's activity records, newest first; only one app's when given."""
    records = ActivityRecord.objects.filter(user=user)
    if application is not None:
        records = records.filter(application=application)
    return records.select_related("application")
