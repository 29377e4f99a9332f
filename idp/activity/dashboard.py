"""Reads for the admin's Activity page and each connected app's panel: hourly rows into charts and tables."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from idp.activity import API, ERROR, MCP_TOOL, REFUSED, TOKENS_ISSUED
from idp.activity.charts import Bar, bar_chart
from idp.models import ActivityCount, ActivityPerson, ActivityRecord, Application

RANGES = {
    "24h": ("Last 24 hours", 24, timedelta(hours=1)),
    "7d": ("Last 7 days", 7, timedelta(days=1)),
    "30d": ("Last 30 days", 30, timedelta(days=1)),
}
DEFAULT_RANGE = "7d"
DEFAULT_IDLE_DAYS = 30
MAX_IDLE_DAYS = 3650
FIGURES = (
    ("tokens", "Tokens issued"),
    ("calls", "Calls (API and MCP tools)"),
    ("refusals", "Refusals (401, 403, 429)"),
    ("errors", "Errors (5xx)"),
)


def figure_of(metric: str) -> str | None:
    """Which chart a stored metric counts in."""
    if metric.startswith(TOKENS_ISSUED):
        return "tokens"
    if metric == API or metric.startswith(MCP_TOOL):
        return "calls"
    if metric.startswith(REFUSED):
        return "refusals"
    if metric == ERROR:
        return "errors"
    return None


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str
    bars: list[Bar]
    total: int


@dataclass
class AppLine:
    app_id: int
    name: str
    client_id: str = ""
    tokens: int = 0
    calls: int = 0
    refusals: int = 0
    errors: int = 0
    people: int = 0
    by_metric: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    range: str = DEFAULT_RANGE
    application: Application | None = None
    user_id: int | None = None
    idle_days: int = DEFAULT_IDLE_DAYS


def activity_query_parse(params) -> Query:
    """The Activity page's query parameters; ValidationError (per parameter, a sentence each) on a bad one."""
    errors: dict[str, str] = {}
    range_ = params.get("range", DEFAULT_RANGE)
    if range_ not in RANGES:
        errors["range"] = f"range must be one of {', '.join(RANGES)}; got {range_[:30]!r}."
    application = None
    client_id = params.get("app", "")
    if client_id:
        application = Application.objects.filter(client_id=client_id).first()
        if application is None:
            errors["app"] = f"No app has the client ID {client_id[:80]!r}."
    user_id = None
    raw_user = params.get("person", "")
    if raw_user:
        if not raw_user.isdigit() or len(raw_user) > 18:
            errors["person"] = f"person must be a person's number (a whole number); got {raw_user[:30]!r}."
        else:
            user_id = int(raw_user)
    idle_days = DEFAULT_IDLE_DAYS
    raw_idle = params.get("idle_days", "")
    if raw_idle:
        if not raw_idle.isdigit() or not 1 <= int(raw_idle[:6]) <= MAX_IDLE_DAYS:
            errors["idle_days"] = f"idle_days must be a whole number from 1 to {MAX_IDLE_DAYS}; got {raw_idle[:30]!r}."
        else:
            idle_days = int(raw_idle)
    if errors:
        raise ValidationError(errors)
    return Query(
        range=range_ if range_ in RANGES else DEFAULT_RANGE,
        application=application,
        user_id=user_id,
        idle_days=idle_days,
    )


def _buckets(range_: str, now: datetime) -> tuple[datetime, list[datetime], timedelta]:
    _, number, step = RANGES[range_]
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if step == timedelta(days=1):
        end = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0) + step
    starts = [end - step * (number - index) for index in range(number)]
    return starts[0], starts, step


def _label(moment: datetime, step: timedelta) -> str:
    local = timezone.localtime(moment)
    return f"{local:%H}:00" if step < timedelta(days=1) else f"{local.day} {local:%b}"


def activity_charts(*, range_: str, application: Application | None = None, now: datetime | None = None) -> list[Chart]:
    """One chart per figure (tokens, calls, refusals, errors), for one app or all, over the range."""
    now = now or timezone.now()
    start, starts, step = _buckets(range_, now)
    rows = ActivityCount.objects.filter(hour__gte=start)
    if application is not None:
        rows = rows.filter(app_id=application.pk)
    sums: dict[str, list[int]] = {key: [0] * len(starts) for key, _ in FIGURES}
    for hour, metric, number in rows.values_list("hour", "metric", "count").iterator():
        figure = figure_of(metric)
        if figure is None:
            continue
        index = int((hour - start) / step)
        if 0 <= index < len(starts):
            sums[figure][index] += number
    prefix = f"app-{application.pk}-" if application is not None else ""
    charts = []
    for key, title in FIGURES:
        bars = [Bar(_label(moment, step), value) for moment, value in zip(starts, sums[key], strict=True)]
        chart_id = f"chart-{prefix}{key}-{range_}"
        full_title = f"{title}, {RANGES[range_][0].lower()}" + (f", {application.name}" if application else "")
        charts.append(
            Chart(key=key, title=full_title, svg=bar_chart(chart_id=chart_id, title=full_title, bars=bars), bars=bars,
                  total=sum(sums[key]))
        )  # fmt: skip
    return charts


def busiest_apps(*, range_: str, limit: int = 10, now: datetime | None = None) -> list[AppLine]:
    """The apps with the most calls over the range, with their other figures and distinct people."""
    now = now or timezone.now()
    start, _, _ = _buckets(range_, now)
    lines: dict[int, AppLine] = {}
    rows = ActivityCount.objects.filter(hour__gte=start).values_list("app_id", "metric", "count")
    for app_id, metric, number in rows.iterator():
        line = lines.setdefault(app_id, AppLine(app_id=app_id, name=""))
        figure = figure_of(metric)
        if figure is not None:
            setattr(line, figure, getattr(line, figure) + number)
        line.by_metric[metric] = line.by_metric.get(metric, 0) + number
    people = (
        ActivityPerson.objects.filter(hour__gte=start)
        .values("app_id")
        .annotate(people=Count("user_id", distinct=True))
        .order_by()
    )
    for row in people:
        lines.setdefault(row["app_id"], AppLine(app_id=row["app_id"], name="")).people = row["people"]
    ranked = sorted(lines.values(), key=lambda line: (-line.calls, -line.tokens, line.app_id))[:limit]
    names = dict(
        (pk, (name, client_id))
        for pk, name, client_id in Application.objects.filter(pk__in=[line.app_id for line in ranked]).values_list(
            "pk", "name", "client_id"
        )
    )
    for line in ranked:
        if line.app_id == 0:
            line.name = "No app (no valid token, or the docs page)"
        else:
            line.name, line.client_id = names.get(line.app_id, (f"Deleted app #{line.app_id}", ""))
    return ranked


def idle_apps(*, days: int, now: datetime | None = None) -> list[Application]:
    """Enabled apps unused for `days` days (never used: made that long ago): candidates to prune or disable."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return list(
        Application.objects.filter(is_enabled=True)
        .filter(Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created__lt=cutoff))
        .order_by("last_used_at", "created")
        .only("pk", "name", "client_id", "last_used_at", "created", "registration_source")[:100]
    )


def recent_records(*, application: Application | None, user_id: int | None, limit: int = 50) -> list[ActivityRecord]:
    records = ActivityRecord.objects.select_related("user")
    if application is not None:
        records = records.filter(application=application)
    if user_id is not None:
        records = records.filter(user_id=user_id)
    return list(records[:limit])


def tools_by_app(line: AppLine) -> list[tuple[str, int]]:
    """An app's MCP tool calls, by tool, most called first."""
    tools = [(metric.removeprefix(MCP_TOOL), n) for metric, n in line.by_metric.items() if metric.startswith(MCP_TOOL)]
    return sorted(tools, key=lambda item: -item[1])


def app_figures(*, application: Application, range_: str, now: datetime | None = None) -> dict[str, int]:
    """Every stored metric of one app over the range, e.g. {"token:authorization_code": 3, "mcp:list_tasks": 9}."""
    now = now or timezone.now()
    start, _, _ = _buckets(range_, now)
    totals: dict[str, int] = defaultdict(int)
    for metric, number in ActivityCount.objects.filter(hour__gte=start, app_id=application.pk).values_list(
        "metric", "count"
    ):
        totals[metric] += number
    return dict(sorted(totals.items()))
