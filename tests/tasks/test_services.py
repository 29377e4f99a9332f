"""The task rules of tasks.services, which the REST API and the MCP tools share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tasks.models import Task
from tasks.services import task_complete, task_create, task_delete, task_update

DUE = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)


def test_task_create_stores_the_task_for_its_owner_with_defaults(user):
    task, created = task_create(owner=user, title="  Renew my passport  ")

    assert created is True
    task.refresh_from_db()
    assert task.owner == user
    assert task.title == "Renew my passport"
    assert task.notes == ""
    assert task.status == Task.Status.TODO
    assert task.priority == Task.Priority.NORMAL
    assert task.due_at is None
    assert task.completed_at is None
    assert task.public_id is not None


def test_task_created_as_done_gets_completed_at(user):
    task, _ = task_create(owner=user, title="Already done", status=Task.Status.DONE)

    assert task.completed_at is not None


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 42}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "ok", "notes": "n" * 10_001}, "notes"),
        ({"title": "ok", "status": "finished"}, "status"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "due_at": datetime(2026, 5, 1, 17, 0)}, "due_at"),  # noqa: DTZ001 - naive on purpose
        ({"title": "ok", "due_at": "2026-05-01T17:00:00Z"}, "due_at"),
        ({"title": "ok", "idempotency_key": ""}, "idempotency_key"),
        ({"title": "ok", "idempotency_key": "k" * 101}, "idempotency_key"),
    ],
)
def test_task_create_refuses_bad_input_per_field_and_writes_nothing(user, arguments, field):
    with pytest.raises(ValidationError) as error:
        task_create(owner=user, **arguments)

    assert list(error.value.message_dict) == [field]
    assert not Task.objects.exists()


def test_task_create_reports_every_bad_field_at_once(user):
    with pytest.raises(ValidationError) as error:
        task_create(owner=user, title="", status="nope", priority="nope")

    assert set(error.value.message_dict) == {"title", "status", "priority"}


def test_title_of_exactly_200_characters_and_notes_of_10000_are_accepted(user):
    task, _ = task_create(owner=user, title="t" * 200, notes="n" * 10_000)

    assert len(task.title) == 200
    assert len(task.notes) == 10_000


def test_a_repeated_idempotency_key_returns_the_first_task_not_a_second(user):
    first, created_first = task_create(owner=user, title="Buy milk", idempotency_key="abc")
    again, created_again = task_create(owner=user, title="Something else", idempotency_key="abc")

    assert created_first is True
    assert created_again is False
    assert again.pk == first.pk
    assert again.title == "Buy milk"
    assert Task.objects.count() == 1


def test_idempotency_keys_are_per_owner(user, other_user):
    mine, _ = task_create(owner=user, title="Mine", idempotency_key="same")
    theirs, created = task_create(owner=other_user, title="Theirs", idempotency_key="same")

    assert created is True
    assert theirs.pk != mine.pk


def test_a_concurrent_twin_creation_returns_the_row_the_other_request_wrote(user):
    """The read before the write can miss a twin that commits in between: the
    unique constraint then fails the insert, inside a savepoint, and the
    twin's row comes back."""
    twin, _ = task_create(owner=user, title="Written by the other request", idempotency_key="race")
    real_filter = Task.objects.filter
    calls = []

    def filter_missing_the_twin_once(*args, **kwargs):
        queryset = real_filter(*args, **kwargs)
        calls.append(kwargs)
        return queryset.none() if len(calls) == 1 else queryset

    with mock.patch.object(Task.objects, "filter", side_effect=filter_missing_the_twin_once):
        task, created = task_create(owner=user, title="This request", idempotency_key="race")

    assert created is False
    assert task.pk == twin.pk
    assert len(calls) == 2, "read, failed insert, then read again"
    assert Task.objects.count() == 1
    # The caller's transaction is still usable after the failed insert.
    assert Task.objects.filter(owner=user).count() == 1


def test_task_update_changes_only_the_given_fields(user):
    task, _ = task_create(owner=user, title="Old", notes="Keep me", due_at=DUE)

    task_update(task=task, title="New")

    task.refresh_from_db()
    assert task.title == "New"
    assert task.notes == "Keep me"
    assert task.due_at == DUE


def test_task_update_with_due_at_none_removes_the_due_date(user):
    task, _ = task_create(owner=user, title="Due", due_at=DUE)

    task_update(task=task, due_at=None)

    task.refresh_from_db()
    assert task.due_at is None


def test_status_done_sets_completed_at_and_reopening_clears_it(user):
    task, _ = task_create(owner=user, title="Cycle")

    task_update(task=task, status=Task.Status.DONE)
    task.refresh_from_db()
    assert task.completed_at is not None

    task_update(task=task, status=Task.Status.IN_PROGRESS)
    task.refresh_from_db()
    assert task.completed_at is None


def test_task_update_refuses_bad_input_and_saves_nothing(user):
    task, _ = task_create(owner=user, title="Untouched")

    with pytest.raises(ValidationError) as error:
        task_update(task=task, title="Changed", priority="urgent")

    assert list(error.value.message_dict) == ["priority"]
    task.refresh_from_db()
    assert task.title == "Untouched"


def test_task_complete_marks_done_and_a_second_completion_keeps_the_first_time(user):
    task, _ = task_create(owner=user, title="Finish")

    task_complete(task=task)
    first_completed_at = Task.objects.get(pk=task.pk).completed_at
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=1)):
        task_complete(task=Task.objects.get(pk=task.pk))

    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert task.completed_at == first_completed_at


def test_task_delete_removes_the_task(user):
    task, _ = task_create(owner=user, title="Gone")

    task_delete(task=task)

    assert not Task.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_with_one_key_make_one_task(user):
    """Each thread is a request: its own connection and transaction, all started together."""
    import threading

    from django.db import connection, transaction

    threads = 8
    barrier = threading.Barrier(threads)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                task, created = task_create(owner=user, title="Once", idempotency_key="burst")
            results.append((task.pk, created))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=request) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    assert len(results) == threads
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Task.objects.count() == 1
