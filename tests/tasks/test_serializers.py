"""The task API's answers: the JSON of a task, made without DRF's fields, is exactly TaskSerializer's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tasks import services
from tasks.models import Task
from tasks.serializers import TaskSerializer, task_data
from tests.factories import TaskFactory


@pytest.mark.django_db
def test_task_data_is_task_serializers_output_for_every_kind_of_task(user):
    plus_two = timezone(timedelta(hours=2))
    made = [
        TaskFactory(owner=user),
        TaskFactory(owner=user, due_at=datetime(2026, 5, 1, 17, 0, tzinfo=plus_two), notes="**Bold** – ünïcode"),
        TaskFactory(owner=user, due_at=datetime(2026, 5, 1, 15, 0, 0, 123456, tzinfo=UTC), priority="high"),
        # As the services return them, before any reload: values as given (an offset, an enum member).
        services.task_create(owner=user, title="Created", due_at=datetime(2026, 6, 1, 9, 30, tzinfo=plus_two))[0],
        services.task_complete(task=TaskFactory(owner=user, status=Task.Status.IN_PROGRESS)),
    ]
    reloaded = list(Task.objects.filter(owner=user))

    for task in [*made, *reloaded]:
        assert task_data(task) == TaskSerializer(task).data


@pytest.mark.django_db
def test_task_data_shows_times_in_utc_with_z(user):
    task = TaskFactory(owner=user, due_at=datetime(2026, 5, 1, 17, 0, tzinfo=timezone(timedelta(hours=2))))

    assert task_data(task)["due_at"] == "2026-05-01T15:00:00Z"
