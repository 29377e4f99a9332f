"""The task tools of /mcp: what they offer, what they do, and how they refuse bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from tasks import services
from tasks.models import Task
from tests.factories import TaskFactory
from tests.fixtures import mcp_token

TOOLS = {
    # name: (title, readOnlyHint, destructiveHint, idempotentHint, scope)
    "list_tasks": ("List tasks", True, False, True, "tasks:read"),
    "get_task": ("Get a task", True, False, True, "tasks:read"),
    "create_task": ("Create a task", False, False, False, "tasks:write"),
    "update_task": ("Change a task", False, False, True, "tasks:write"),
    "complete_task": ("Complete a task", False, False, True, "tasks:write"),
    "delete_task": ("Delete a task", False, True, True, "tasks:write"),
}


@pytest.fixture
def token(user, application):
    return mcp_token(user, application)


@pytest.fixture
def call(mcp, token):
    """Call a tool as `user`; returns the CallToolResult as JSON."""

    def call_tool(name: str, arguments: dict | None = None, **kwargs) -> dict:
        response = mcp.call_tool(name, arguments, token=kwargs.pop("as_token", token), **kwargs)
        assert response.status_code == HTTPStatus.OK, response.text
        return response.json()["result"]

    return call_tool


def error_text(result: dict) -> str:
    assert result["isError"] is True, result
    return result["content"][0]["text"]


def test_tools_list_describes_each_tool_its_scope_and_annotations(mcp, token):
    tools = {tool["name"]: tool for tool in mcp.rpc("tools/list", token=token).json()["result"]["tools"]}

    assert set(tools) == set(TOOLS)
    for name, (title, read_only, destructive, idempotent, scope) in TOOLS.items():
        tool = tools[name]
        assert tool["title"] == title
        assert tool["description"]
        assert tool["annotations"] == {
            "title": title,
            "readOnlyHint": read_only,
            "destructiveHint": destructive,
            "idempotentHint": idempotent,
            "openWorldHint": False,
        }
        assert tool["_meta"]["securitySchemes"] == [{"type": "oauth2", "scopes": [scope]}]
        assert tool["outputSchema"]["type"] == "object"
        for parameter, schema in tool["inputSchema"]["properties"].items():
            assert schema.get("description"), f"{name}.{parameter} has no description"


def test_create_task_creates_the_users_task_and_answers_with_structured_content_and_text(call, user):
    result = call(
        "create_task",
        {
            "title": "Renew my passport",
            "notes": "Two photos.",
            "priority": "high",
            "due_at": "2026-05-01T17:00:00+02:00",
        },
    )

    assert result["isError"] is False
    task = Task.objects.get()
    assert task.owner == user
    assert result["structuredContent"] == {
        "id": str(task.public_id),
        "title": "Renew my passport",
        "notes": "Two photos.",
        "status": "todo",
        "priority": "high",
        "due_at": "2026-05-01T15:00:00Z",
        "completed_at": None,
        "created_at": task.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": task.updated_at.isoformat().replace("+00:00", "Z"),
        "created_by_app": {"client_id": task.created_by_app.client_id, "name": task.created_by_app.name},
        "updated_by_app": {"client_id": task.created_by_app.client_id, "name": task.created_by_app.name},
    }
    assert result["content"][0]["text"].startswith("Created Renew my passport [todo, high priority, due 2026-05-01")


def test_create_task_with_a_used_idempotency_key_returns_the_first_task(call):
    first = call("create_task", {"title": "Once", "idempotency_key": "k-1"})
    again = call("create_task", {"title": "Twice?", "idempotency_key": "k-1"})

    assert again["structuredContent"]["id"] == first["structuredContent"]["id"]
    assert again["content"][0]["text"].startswith("Already created with this key")
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"title": "   "}, "title: Give at least one character that is not a space."),
        ({}, "title\n  Field required"),
        ({"title": "x" * 201}, "String should have at most 200 characters"),
        ({"title": "Due", "due_at": "2026-05-01T17:00:00"}, "Input should have timezone info"),
        ({"title": "Odd", "priority": "urgent"}, "Input should be 'low', 'normal' or 'high'"),
        ({"title": "Typo", "titel": "x"}, "Unknown argument 'titel' for create_task. Known arguments: title,"),
    ],
    ids=["blank-title", "no-title", "long-title", "naive-due-date", "unknown-priority", "unknown-argument"],
)
def test_bad_input_gets_a_tool_error_saying_what_is_wrong_and_nothing_is_written(call, arguments, complaint):
    result = call("create_task", arguments)

    text = error_text(result)
    assert complaint in text
    assert "Traceback" not in text
    assert not Task.objects.exists()


def test_an_unexpected_failure_reaches_the_client_as_a_sentence_without_its_details(call, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "task_create", broken)

    text = error_text(call("create_task", {"title": "Boom"}))

    assert text == "Error executing tool create_task"


def test_list_tasks_filters_as_the_rest_api_and_pages_with_a_cursor(call, user, other_user):
    TaskFactory(owner=user, title="Buy milk", status="todo", due_at=datetime(2026, 5, 1, tzinfo=UTC))
    TaskFactory(owner=user, title="Buy bread", status="done", due_at=datetime(2026, 5, 2, tzinfo=UTC))
    TaskFactory(owner=user, title="Call mum", status="in_progress", due_at=datetime(2026, 6, 1, tzinfo=UTC))
    TaskFactory(owner=other_user, title="Buy a boat", status="todo")

    open_tasks = call("list_tasks", {"status": ["todo", "in_progress"]})
    bought = call("list_tasks", {"q": "buy"})
    in_may = call("list_tasks", {"due_after": "2026-05-01T00:00:00Z", "due_before": "2026-06-01T00:00:00Z"})
    first_page = call("list_tasks", {"limit": 2})
    second_page = call("list_tasks", {"limit": 2, "cursor": first_page["structuredContent"]["next_cursor"]})

    def titles(result):
        return [task["title"] for task in result["structuredContent"]["tasks"]]

    assert titles(open_tasks) == ["Buy milk", "Call mum"]
    assert titles(bought) == ["Buy milk", "Buy bread"]
    assert titles(in_may) == ["Buy milk", "Buy bread"]
    assert titles(first_page) == ["Buy milk", "Buy bread"]
    assert titles(second_page) == ["Call mum"]
    assert second_page["structuredContent"]["next_cursor"] is None
    assert "More: call again with the next_cursor" in first_page["content"][0]["text"]


def test_list_tasks_structured_content_is_what_task_page_out_would_dump_and_fits_the_output_schema(
    mcp, call, token, user
):
    """MCP server/tools, Structured Content: "Servers MUST provide structured results that conform to
    this schema". list_tasks makes its JSON directly (tasks.mcp); TaskPageOut is the schema."""
    from tasks.mcp import TaskOut, TaskPageOut, task_line
    from tasks.selectors import task_list

    TaskFactory(owner=user, title="Dated", notes="**n**", due_at=datetime(2026, 5, 1, 9, 30, 1, 5, tzinfo=UTC))
    TaskFactory(owner=user, title="Undated", status="done", priority="high")
    page = task_list(owner=user)

    result = call("list_tasks")

    expected = TaskPageOut(tasks=[TaskOut.of(task) for task in page.tasks], next_cursor=None)
    assert result["structuredContent"] == expected.model_dump(mode="json", by_alias=True)
    tools = {tool["name"]: tool for tool in mcp.rpc("tools/list", token=token).json()["result"]["tools"]}
    assert tools["list_tasks"]["outputSchema"] == TaskPageOut.model_json_schema(by_alias=True)
    assert TaskPageOut.model_validate(result["structuredContent"]) == expected
    assert result["content"][0]["text"].splitlines()[1:] == [f"- {task.line()}" for task in expected.tasks]
    assert task_line(page.tasks[0], page.tasks[0].public_id) == expected.tasks[0].line()


def test_list_tasks_refuses_a_bad_cursor_with_a_sentence(call):
    assert "cursor: This cursor is not valid" in error_text(call("list_tasks", {"cursor": "garbage"}))


def test_another_users_task_does_not_exist_for_any_tool(call, other_user):
    theirs = TaskFactory(owner=other_user, title="Private")

    for name in ("get_task", "complete_task", "delete_task"):
        assert "No task with this id among yours" in error_text(call(name, {"task_id": str(theirs.public_id)}))
    assert "No task with this id among yours" in error_text(
        call("update_task", {"task_id": str(theirs.public_id), "title": "Mine now"})
    )
    theirs.refresh_from_db()
    assert theirs.title == "Private"
    assert theirs.status == "todo"


def test_an_unknown_or_malformed_task_id_is_refused(call):
    assert "No task with this id among yours" in error_text(call("get_task", {"task_id": str(uuid.uuid4())}))
    assert "task_id" in error_text(call("get_task", {"task_id": "42"}))


def test_get_task_returns_the_task_with_its_notes(call, user):
    task = TaskFactory(owner=user, title="Read", notes="The **notes**.")

    result = call("get_task", {"task_id": str(task.public_id)})

    assert result["structuredContent"]["notes"] == "The **notes**."


def test_update_task_changes_only_the_given_fields_and_can_clear_the_due_date(call, user):
    task = TaskFactory(owner=user, title="Old", notes="Keep", due_at=datetime(2026, 5, 1, tzinfo=UTC))

    renamed = call("update_task", {"task_id": str(task.public_id), "title": "New", "status": "in_progress"})
    undated = call("update_task", {"task_id": str(task.public_id), "clear_due_at": True})

    assert renamed["structuredContent"]["title"] == "New"
    assert renamed["structuredContent"]["notes"] == "Keep"
    assert renamed["structuredContent"]["status"] == "in_progress"
    assert undated["structuredContent"]["due_at"] is None
    task.refresh_from_db()
    assert (task.title, task.status, task.due_at) == ("New", "in_progress", None)


def test_update_task_refuses_a_due_date_and_its_removal_together(call, user):
    task = TaskFactory(owner=user)

    result = call(
        "update_task", {"task_id": str(task.public_id), "due_at": "2026-05-01T00:00:00Z", "clear_due_at": True}
    )

    assert error_text(result).endswith("Give either due_at or clear_due_at, not both.")


def test_complete_task_marks_it_done_once(call, user):
    task = TaskFactory(owner=user)

    first = call("complete_task", {"task_id": str(task.public_id)})
    second = call("complete_task", {"task_id": str(task.public_id)})

    assert first["structuredContent"]["status"] == "done"
    assert first["structuredContent"]["completed_at"] is not None
    assert second["structuredContent"]["completed_at"] == first["structuredContent"]["completed_at"]


def test_delete_task_deletes_it_for_good(call, user):
    task = TaskFactory(owner=user)

    result = call("delete_task", {"task_id": str(task.public_id)})

    assert result["structuredContent"] == {"id": str(task.public_id), "deleted": True}
    assert not Task.objects.exists()
    assert "No task with this id" in error_text(call("delete_task", {"task_id": str(task.public_id)}))
