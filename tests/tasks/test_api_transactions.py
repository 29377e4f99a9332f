"""The task API's transactions: reads run without one, writes in one (ATOMIC_REQUESTS for writes only)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from tasks import selectors, services
from tests.factories import TaskFactory


@pytest.fixture
def in_transaction(monkeypatch):
    """Records, for each call of the wrapped selector or service, whether it ran inside a transaction."""
    seen: list[bool] = []

    def spy(module, name):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            seen.append(transaction.get_connection().in_atomic_block)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    spy(selectors, "task_list")
    spy(selectors, "task_get")
    spy(services, "task_create")
    return seen


@pytest.mark.django_db(transaction=True)
def test_reading_tasks_runs_outside_a_transaction(api, user, in_transaction):
    task = TaskFactory(owner=user)

    assert api("GET", "/api/tasks").status_code == HTTPStatus.OK
    assert api("GET", f"/api/tasks/{task.public_id}").status_code == HTTPStatus.OK

    assert in_transaction == [False, False]


@pytest.mark.django_db(transaction=True)
def test_writing_a_task_runs_in_a_transaction(api, in_transaction):
    assert api("POST", "/api/tasks", {"title": "Renew my passport"}).status_code == HTTPStatus.CREATED

    assert in_transaction == [True]


@pytest.mark.django_db(transaction=True)
def test_a_refused_write_leaves_nothing_behind(api, user, monkeypatch):
    """An error answered after a write rolls the write back, as ATOMIC_REQUESTS did."""
    from tasks.models import Task

    def create_then_fail(**kwargs):
        services_create(**kwargs)
        raise ValidationError({"title": ["Refused after writing."]})

    services_create = services.task_create
    monkeypatch.setattr(services, "task_create", create_then_fail)

    response = api("POST", "/api/tasks", {"title": "Renew my passport"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Task.objects.filter(owner=user).exists()


def test_a_missing_task_answers_404_inside_a_callers_transaction_and_leaves_it_usable(api, user):
    """Django's test client runs inside the test's transaction: the read's error answer does not doom it."""
    from tasks.models import Task

    assert api("GET", "/api/tasks/6f1c1c3e-0000-4000-8000-000000000000").status_code == HTTPStatus.NOT_FOUND

    assert Task.objects.filter(owner=user).count() == 0
