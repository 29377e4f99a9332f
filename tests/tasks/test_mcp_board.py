"""The task board (MCP Apps, io.modelcontextprotocol/ui): its resource and the tools bound to it."""

from __future__ import annotations

import re

import pytest

from tasks import board
from tests.fixtures import mcp_token

URI = "ui://taskgate/task-board.html"
BOARD_TOOLS = {"list_tasks", "create_task", "update_task", "complete_task"}


@pytest.fixture
def token(user, application):
    return mcp_token(user, application)


def test_the_tools_the_board_shows_and_calls_carry_its_uri_and_stay_visible_to_the_model(mcp, token):
    tools = {tool["name"]: tool for tool in mcp.rpc("tools/list", token=token).json()["result"]["tools"]}

    for name in BOARD_TOOLS:
        assert tools[name]["_meta"]["ui"] == {"resourceUri": URI, "visibility": ["model", "app"]}, name
        assert tools[name]["_meta"]["securitySchemes"], name
    for name in set(tools) - BOARD_TOOLS:
        assert "ui" not in tools[name]["_meta"], name
    # The standard keys only: nothing ChatGPT-specific.
    assert not [key for tool in tools.values() for key in tool["_meta"] if key.startswith("openai/")]


def test_the_board_is_a_ui_resource_with_an_explicit_empty_csp_and_a_border(mcp, token):
    listed = mcp.rpc("resources/list", token=token).json()["result"]["resources"]
    read = mcp.rpc("resources/read", {"uri": URI}, token=token).json()["result"]["contents"]

    expected_meta = {
        "ui": {
            "csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []},
            "prefersBorder": True,
        }
    }
    assert [(resource["uri"], resource["mimeType"], resource["_meta"]) for resource in listed] == [
        (URI, "text/html;profile=mcp-app", expected_meta)
    ]
    assert len(read) == 1
    assert read[0]["mimeType"] == "text/html;profile=mcp-app"
    assert read[0]["_meta"] == expected_meta
    assert read[0]["text"] == board.task_board_html()


def test_the_board_is_one_self_contained_document_that_loads_nothing():
    html = board.task_board_html()

    assert html.startswith("<!doctype html>")
    assert html.count("<html") == 1
    assert "<style>" in html
    assert "<script>" in html
    # No file, font, image or script from anywhere: the board's CSP allows none.
    assert not re.search(r"""\b(src|href)\s*=|@import|url\(|fetch\(|XMLHttpRequest|WebSocket""", html)
    assert "window.openai" not in html
    assert "skybridge" not in html


def test_the_board_loader_refuses_a_script_that_would_end_its_inline_element(tmp_path, monkeypatch):
    for name in ("task-board.html", "task-board.css"):
        (tmp_path / name).write_text((board.WIDGET_DIR / name).read_text())
    (tmp_path / "task-board.js").write_text('const tag = "</script>";')
    monkeypatch.setattr(board, "WIDGET_DIR", tmp_path)
    board.task_board_html.cache_clear()
    try:
        with pytest.raises(ValueError, match="task-board.js must not contain '</'"):
            board.task_board_html()
    finally:
        board.task_board_html.cache_clear()


def test_list_tasks_keeps_its_text_for_hosts_without_widgets_beside_the_structured_content(mcp, token, user):
    from tests.factories import TaskFactory

    TaskFactory(owner=user, title="Water the plants")

    result = mcp.call_tool("list_tasks", {}, token=token).json()["result"]

    assert result["content"][0]["text"].startswith("1 task(s).\n- Water the plants [todo")
    assert [task["title"] for task in result["structuredContent"]["tasks"]] == ["Water the plants"]
