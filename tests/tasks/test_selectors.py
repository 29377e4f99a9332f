"""Reading tasks: filters, orderings and stable keyset pages (tasks.selectors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from tasks.models import Task
from tasks.selectors import ORDERINGS, TaskRow, task_get, task_list
from tests.factories import TaskFactory

MONDAY = datetime(2026, 4, 27, tzinfo=UTC)


def titles(page) -> list[str]:
    return [task.title for task in page.tasks]


def all_pages(owner, **kwargs) -> list[str]:
    seen, cursor = [], None
    while True:
        page = task_list(owner=owner, cursor=cursor, **kwargs)
        seen += titles(page)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_task_list_shows_only_the_owners_tasks(user, other_user):
    TaskFactory(owner=user, title="Mine")
    TaskFactory(owner=other_user, title="Theirs")

    assert titles(task_list(owner=user)) == ["Mine"]


def test_task_get_refuses_another_persons_task_an_unknown_id_and_garbage_alike(user, other_user):
    theirs = TaskFactory(owner=other_user)

    for public_id in (theirs.public_id, "00000000-0000-0000-0000-000000000000", "not-a-uuid", "1 OR 1=1"):
        with pytest.raises(Task.DoesNotExist):
            task_get(owner=user, public_id=public_id)


def test_status_filter_takes_one_several_or_a_comma_separated_list(user):
    TaskFactory(owner=user, title="todo", status=Task.Status.TODO)
    TaskFactory(owner=user, title="doing", status=Task.Status.IN_PROGRESS)
    TaskFactory(owner=user, title="done", status=Task.Status.DONE)

    assert set(titles(task_list(owner=user, status="done"))) == {"done"}
    assert set(titles(task_list(owner=user, status=["todo", "in_progress"]))) == {"todo", "doing"}
    assert set(titles(task_list(owner=user, status="todo,in_progress"))) == {"todo", "doing"}


def test_due_after_is_inclusive_due_before_exclusive_and_undated_tasks_are_left_out(user):
    TaskFactory(owner=user, title="monday", due_at=MONDAY)
    TaskFactory(owner=user, title="friday", due_at=MONDAY + timedelta(days=4))
    TaskFactory(owner=user, title="next monday", due_at=MONDAY + timedelta(days=7))
    TaskFactory(owner=user, title="undated")

    this_week = task_list(owner=user, due_after=MONDAY, due_before=MONDAY + timedelta(days=7))

    assert titles(this_week) == ["monday", "friday"]


def test_q_finds_every_word_in_title_or_notes_in_any_case(user):
    TaskFactory(owner=user, title="Renew passport", notes="Bring photos")
    TaskFactory(owner=user, title="Photos of the trip")
    TaskFactory(owner=user, title="Call the bank")

    assert set(titles(task_list(owner=user, q="PHOTOS"))) == {"Renew passport", "Photos of the trip"}
    assert titles(task_list(owner=user, q="passport photos")) == ["Renew passport"]
    assert titles(task_list(owner=user, q="100%_")) == []


def test_orderings(user):
    early = TaskFactory(owner=user, title="early low", priority="low", due_at=MONDAY, created_at=MONDAY)
    late = TaskFactory(
        owner=user, title="late high", priority="high", due_at=MONDAY + timedelta(days=2), created_at=MONDAY
    )
    undated = TaskFactory(owner=user, title="undated normal", created_at=MONDAY + timedelta(hours=1))
    del early, late, undated

    assert titles(task_list(owner=user, ordering="due_at")) == ["early low", "late high", "undated normal"]
    assert titles(task_list(owner=user, ordering="-due_at")) == ["late high", "early low", "undated normal"]
    assert titles(task_list(owner=user, ordering="-priority")) == ["late high", "undated normal", "early low"]
    assert titles(task_list(owner=user, ordering="priority")) == ["early low", "undated normal", "late high"]
    assert titles(task_list(owner=user, ordering="-created_at"))[0] == "undated normal"
    assert titles(task_list(owner=user, ordering="created_at"))[-1] == "undated normal"


@pytest.mark.parametrize("ordering", list(ORDERINGS))
def test_pages_cover_every_task_once_in_every_ordering_even_with_ties_and_no_due_dates(user, ordering):
    # Ties on every key: same creation time, same priority, half without a due date.
    for n in range(23):
        TaskFactory(
            owner=user,
            title=f"t{n:02}",
            created_at=MONDAY,
            due_at=None if n % 2 else MONDAY + timedelta(days=n % 3),
            priority=["low", "normal", "high"][n % 3],
        )
    unpaged = titles(task_list(owner=user, ordering=ordering, limit=100))

    paged = all_pages(user, ordering=ordering, limit=4)

    assert paged == unpaged
    assert sorted(paged) == [f"t{n:02}" for n in range(23)]


@pytest.mark.parametrize("ordering", list(ORDERINGS))
def test_the_first_page_compiled_once_per_thread_gives_what_the_orm_gives_for_every_owner(
    user, other_user, ordering, django_assert_num_queries
):
    """An unfiltered first page runs SQL compiled once per thread (tasks.selectors._first_page):
    the same rows, values and types as the ORM's, for each owner, and still one statement."""
    for owner in (user, other_user):
        for n in range(7):
            TaskFactory(
                owner=owner,
                title=f"{owner.pk}-{n}",
                notes="*notes*" if n % 2 else "",
                due_at=None if n % 3 == 0 else MONDAY + timedelta(days=n % 4, microseconds=n),
                priority=["low", "normal", "high"][n % 3],
            )
    for owner in (user, other_user, user):
        orm = [
            TaskRow._make(row)
            for row in Task.objects.filter(owner=owner)
            .order_by(*(key.order_by() for key in ORDERINGS[ordering]))
            .values_list(*TaskRow._fields)[:6]
        ]

        with django_assert_num_queries(1):
            page = task_list(owner=owner, ordering=ordering, limit=5)

        assert page.tasks == orm[:5]
        assert [type(value) for value in page.tasks[1]] == [type(value) for value in orm[1]]
        assert page.next_cursor is not None


def test_a_task_added_while_paging_does_not_make_a_page_repeat_or_skip_one(user):
    for n in range(6):
        TaskFactory(owner=user, title=f"old {n}", created_at=MONDAY + timedelta(minutes=n))
    first = task_list(owner=user, ordering="-created_at", limit=3)

    TaskFactory(owner=user, title="new", created_at=MONDAY + timedelta(days=1))
    second = task_list(owner=user, ordering="-created_at", limit=3, cursor=first.next_cursor)

    assert titles(first) == ["old 5", "old 4", "old 3"]
    assert titles(second) == ["old 2", "old 1", "old 0"]
    assert second.next_cursor is None


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"status": "finished"}, "status"),
        ({"due_before": datetime(2026, 5, 1)}, "due_before"),  # noqa: DTZ001 - naive on purpose
        ({"due_after": "tomorrow"}, "due_after"),
        ({"q": "x" * 201}, "q"),
        ({"ordering": "title"}, "ordering"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": True}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_task_list_refuses_bad_arguments_per_field(user, arguments, field):
    with pytest.raises(ValidationError) as error:
        task_list(owner=user, **arguments)

    assert list(error.value.message_dict) == [field]


def test_a_cursor_only_works_with_the_ordering_it_was_made_for(user):
    TaskFactory.create_batch(3, owner=user)
    cursor = task_list(owner=user, ordering="due_at", limit=1).next_cursor

    with pytest.raises(ValidationError) as error:
        task_list(owner=user, ordering="-created_at", cursor=cursor)

    assert "keep the ordering" in error.value.message_dict["cursor"][0]
