"""Reads of tasks. A person only ever reads their own: every selector takes the owner."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.core import signing
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from config.precompiled import Precompiled
from tasks.models import Task
from tasks.validation import FieldErrors

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
QUERY_MAX_LENGTH = 200
_CURSOR_SALT = "tasks.selectors.task_list.cursor"


@dataclass(frozen=True)
class _SortKey:
    field: str
    descending: bool = False
    # Tasks without a value come last in both directions.
    nullable: bool = False

    def order_by(self):
        expression = F(self.field)
        if self.descending:
            return expression.desc(nulls_last=True) if self.nullable else expression.desc()
        return expression.asc(nulls_last=True) if self.nullable else expression.asc()

    def beyond(self, value) -> Q:
        """The rows that come after `value` on this key alone."""
        if value is None:
            return Q(pk__in=[])  # nulls are last: nothing comes after them
        after = Q(**{f"{self.field}__{'lt' if self.descending else 'gt'}": value})
        return after | Q(**{f"{self.field}__isnull": True}) if self.nullable else after

    def same(self, value) -> Q:
        return Q(**{f"{self.field}__isnull": True}) if value is None else Q(**{self.field: value})


_CREATED = _SortKey("created_at")
_CREATED_DESC = _SortKey("created_at", descending=True)
_DUE = _SortKey("due_at", nullable=True)
_ID = _SortKey("public_id")
_ID_DESC = _SortKey("public_id", descending=True)

# Every ordering ends with the unique public id, so that pages never skip or
# repeat a task however many share a due date or a creation time.
ORDERINGS: dict[str, tuple[_SortKey, ...]] = {
    "due_at": (_DUE, _CREATED, _ID),
    "-due_at": (_SortKey("due_at", descending=True, nullable=True), _CREATED_DESC, _ID_DESC),
    "priority": (_SortKey("priority_rank"), _DUE, _CREATED, _ID),
    "-priority": (_SortKey("priority_rank", descending=True), _DUE, _CREATED, _ID),
    "created_at": (_CREATED, _ID),
    "-created_at": (_CREATED_DESC, _ID_DESC),
}
"""Orderings of task_list: by due date (soonest first, undated last), by
priority (`-priority`: high first; then by due date), or by creation time.
A leading `-` reverses the main key."""
DEFAULT_ORDERING = "due_at"


class AppRef(NamedTuple):
    """The app that created or changed a task, as a page shows it."""

    client_id: str
    name: str


class TaskRow(NamedTuple):
    """A task as a page shows it (TaskSerializer's fields) with what its cursor needs: a row,
    not a model instance, because building 20 to 100 models cost more than the query
    (benchmarks/README.md). Its attributes are named as a Task's."""

    public_id: uuid.UUID
    title: str
    notes: str
    status: str
    priority: str
    priority_rank: int
    due_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The apps' client ID and name, joined into the page's one query (named as the ORM looks them up).
    created_by_app__client_id: str | None
    created_by_app__name: str | None
    updated_by_app__client_id: str | None
    updated_by_app__name: str | None

    @property
    def created_by_app(self) -> AppRef | None:
        if self.created_by_app__client_id is None:
            return None
        return AppRef(self.created_by_app__client_id, self.created_by_app__name)

    @property
    def updated_by_app(self) -> AppRef | None:
        if self.updated_by_app__client_id is None:
            return None
        return AppRef(self.updated_by_app__client_id, self.updated_by_app__name)


@dataclass(frozen=True)
class TaskPage:
    tasks: list[TaskRow]
    next_cursor: str | None
    """Pass as `cursor` to task_list, with the same ordering, for the next page; None on the last page."""


def task_get(*, owner: User, public_id: uuid.UUID | str) -> Task:
    """The owner's task with this public id. Raises Task.DoesNotExist for
    another person's task, an unknown id or a string that is not a UUID alike,
    so that a caller cannot tell them apart."""
    try:
        public_id = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except ValueError:
        raise Task.DoesNotExist("No task with this id.") from None
    return Task.objects.with_apps().get(owner=owner, public_id=public_id)


def statuses_of(status: Iterable[str] | str) -> list[str]:
    """The statuses asked for: one, several (a list), or comma-separated ("todo,in_progress"),
    as the REST API's `status` parameter and list_tasks' argument take them. A blank one is
    kept, so that "todo," is refused as unknown rather than read as "todo"."""
    values = [status] if isinstance(status, str) else list(status)
    return [part.strip() for value in values for part in str(value).split(",")]


def unknown_status_problem(statuses: list[str]) -> str | None:
    """What is wrong with `statuses`, in a sentence, or None."""
    unknown = [value for value in statuses if value not in Task.Status.values]
    if not unknown:
        return None
    return f"Unknown status {unknown[0]!r}; use one or more of: {', '.join(Task.Status.values)}."


def _parse_statuses(errors: FieldErrors, status: Iterable[str] | str | None) -> list[str]:
    if status is None:
        return []
    statuses = statuses_of(status)
    if not any(statuses):
        return []  # nothing asked for: no filter
    problem = unknown_status_problem(statuses)
    if problem:
        errors.add("status", problem)
    return statuses


def _check_moment(errors: FieldErrors, field: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        errors.add(field, "Give a date and time with a time zone, e.g. 2026-05-01T00:00:00Z.")
        return None
    return value


def task_page_cursor(*, ordering: str, task: TaskRow) -> str:
    """The cursor of the page that follows `task` (a caller that ends a page early names where)."""
    return _encode_cursor(ordering, task)


def _encode_cursor(ordering: str, task: TaskRow) -> str:
    values = []
    for key in ORDERINGS[ordering]:
        value = getattr(task, key.field)
        values.append(value.isoformat() if isinstance(value, datetime) else str(value) if value is not None else None)
    # Signed, neither timestamped nor compressed: a cursor is a few values, asked for on most pages.
    return signing.Signer(salt=_CURSOR_SALT).sign_object({"o": ordering, "v": values})


def _decode_cursor(errors: FieldErrors, cursor: str, ordering: str) -> list | None:
    """The sort values of the last task of the previous page, or None (with an error) for a bad cursor."""
    try:
        payload = signing.Signer(salt=_CURSOR_SALT).unsign_object(cursor)
        if payload["o"] != ordering:
            errors.add("cursor", f"This cursor belongs to ordering {payload['o']!r}: keep the ordering when paging.")
            return None
        values = []
        for key, raw in zip(ORDERINGS[ordering], payload["v"], strict=True):
            if raw is None:
                values.append(None)
            elif key.field == "public_id":
                values.append(uuid.UUID(raw))
            elif key.field == "priority_rank":
                values.append(int(raw))
            else:
                values.append(datetime.fromisoformat(raw))
        return values
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        errors.add("cursor", "This cursor is not valid: use the `next` link of the previous page as it is.")
        return None


def _after(keys: tuple[_SortKey, ...], values: list) -> Q:
    """The rows strictly after `values` in the order of `keys` (keyset pagination)."""
    condition = Q(pk__in=[])
    equal_so_far = Q()
    for key, value in zip(keys, values, strict=True):
        condition |= equal_so_far & key.beyond(value)
        equal_so_far &= key.same(value)
    return condition


def task_list(
    *,
    owner: User,
    status: Iterable[str] | str | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    q: str | None = None,
    ordering: str = DEFAULT_ORDERING,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> TaskPage:
    """One page of the owner's tasks.

    - `status`: one status, several (a list, or comma-separated: "todo,in_progress").
    - `due_after` (inclusive) and `due_before` (exclusive), aware datetimes:
      only tasks with a due date in that range.
    - `q`: words that must each appear in the title or the notes (any case).
    - `ordering`: a key of ORDERINGS.
    - `limit`: 1 to 100 tasks per page; `cursor`: the `next_cursor` of the
      previous page. Pages are keyset-based: tasks added or changed while
      paging never make a page skip or repeat another task.

    Raises ValidationError, per field, on a bad argument.
    """
    errors = FieldErrors()
    statuses = _parse_statuses(errors, status)
    due_before = _check_moment(errors, "due_before", due_before)
    due_after = _check_moment(errors, "due_after", due_after)
    if q is not None and (not isinstance(q, str) or len(q) > QUERY_MAX_LENGTH or "\x00" in q):
        errors.add("q", f"Give at most {QUERY_MAX_LENGTH} characters of text.")
        q = None
    if ordering not in ORDERINGS:
        errors.add("ordering", f"Unknown ordering {ordering!r}; use one of: {', '.join(ORDERINGS)}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        errors.add("limit", f"Give a whole number from 1 to {MAX_LIMIT}.")
    after_values = _decode_cursor(errors, cursor, ordering) if cursor and ordering in ORDERINGS else None
    errors.raise_if_any()

    if statuses or due_after or due_before or q or after_values:
        tasks = _filtered(owner, statuses, due_after, due_before, q, ordering, after_values)
        rows = [TaskRow._make(row) for row in tasks.values_list(*TaskRow._fields)[: limit + 1]]
    else:
        rows = _first_page(owner_id=owner.pk, ordering=ordering, limit=limit)
    page, more = rows[:limit], len(rows) > limit
    return TaskPage(tasks=page, next_cursor=_encode_cursor(ordering, page[-1]) if more else None)


def _filtered(owner, statuses, due_after, due_before, q, ordering, after_values) -> QuerySet[Task]:
    tasks: QuerySet[Task] = Task.objects.filter(owner=owner)
    if statuses:
        tasks = tasks.filter(status__in=statuses)
    if due_after is not None:
        tasks = tasks.filter(due_at__gte=due_after)
    if due_before is not None:
        tasks = tasks.filter(due_at__lt=due_before)
    for word in (q or "").split():
        tasks = tasks.filter(Q(title__icontains=word) | Q(notes__icontains=word))
    keys = ORDERINGS[ordering]
    if after_values is not None:
        tasks = tasks.filter(_after(keys, after_values))
    return tasks.order_by(*(key.order_by() for key in keys))


_ANY_OWNER = -1  # stands for the owner's id while compiling


@functools.cache
def _first_page_query(ordering: str, limit: int) -> Precompiled:
    def build(owner_id):
        return _filtered(owner_id, None, None, None, None, ordering, None).values_list(*TaskRow._fields)[: limit + 1]

    return Precompiled(Task, build, (_ANY_OWNER,))


def _first_page(*, owner_id: int, ordering: str, limit: int) -> list[TaskRow]:
    """The first `limit` + 1 tasks of an unfiltered page, by SQL the ORM compiled once per thread.

    The page asked for most ("what are my tasks?") spent more CPU building and
    compiling its query through the ORM than the database spent running it
    (benchmarks/README.md): config.precompiled compiles it once per thread,
    ordering and limit, with the owner as its only parameter.
    tests/tasks/test_selectors.py holds it to the ORM's answer for every ordering.
    """
    return [TaskRow._make(row) for row in _first_page_query(ordering, limit).rows(owner_id)]
