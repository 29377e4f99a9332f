"""The MCP tools' database work: reads run without a transaction, writes in one."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db import transaction

from tasks import selectors, services
from tests.factories import TaskFactory
from tests.fixtures import mcp_token


@pytest.fixture
def in_transaction(monkeypatch):
    """For each call of the spied selectors and services: did it run inside a transaction?"""
    seen: dict[str, list[bool]] = {}

    def spy(module, name):
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            seen.setdefault(name, []).append(transaction.get_connection().in_atomic_block)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    for module, name in ((selectors, "task_list"), (selectors, "task_get"), (services, "task_create")):
        spy(module, name)
    return seen


def test_reading_tools_run_outside_a_transaction_and_writing_tools_in_one(mcp, user, application, in_transaction):
    token = mcp_token(user, application)
    task = TaskFactory(owner=user)

    for name, arguments in (
        ("list_tasks", {}),
        ("get_task", {"task_id": str(task.public_id)}),
        ("create_task", {"title": "Pay rent"}),
    ):
        response = mcp.call_tool(name, arguments, token=token)
        assert response.status_code == HTTPStatus.OK
        assert not response.json()["result"]["isError"], response.json()

    assert in_transaction == {"task_list": [False], "task_get": [False], "task_create": [True]}
