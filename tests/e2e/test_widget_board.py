"""The task board (MCP Apps) in a real browser, framed the way ChatGPT or Claude frame it.

The host page (tests/e2e/widget_host/) runs the official AppBridge of
@modelcontextprotocol/ext-apps, puts the board in a sandboxed iframe under the
specification's default CSP, and hands the board's tools/call to this test,
which sends it to the live /mcp with a real token: the board never sees it.
Nothing leaves the host page: every other request is aborted and recorded.

Needs `make test-tools` (Node 20 and npm): the AppBridge bundle and axe-core.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from tasks.models import Task
from tests.factories import TaskFactory
from tests.fixtures import issue_access_token

pytestmark = [pytest.mark.live, pytest.mark.browser]

BASE_DIR = Path(__file__).resolve().parent.parent.parent
HOST = "http://host.test"
HOST_FILES = {
    "/": (Path(__file__).parent / "widget_host" / "host.html", "text/html"),
    "/host.js": (Path(__file__).parent / "widget_host" / "host.js", "text/javascript"),
    "/app-bridge.js": (BASE_DIR / ".build" / "app-bridge.js", "text/javascript"),
}
AXE = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
BOARD_URI = "ui://taskgate/task-board.html"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
HOST_CONTEXT = {
    "theme": "light",
    "locale": "en-GB",
    "timeZone": "Europe/Paris",
    "platform": "web",
    "displayMode": "inline",
    "availableDisplayModes": ["inline"],
    "containerDimensions": {"maxHeight": 500},
    "safeAreaInsets": {"top": 0, "right": 0, "bottom": 0, "left": 0},
}


def built_by_make(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(BASE_DIR)} is missing: `make test-tools` makes it with Node 20 and npm "
            "(`make test` runs it). The site and its MCP tools need no Node; this browser test does."
        )
    return path


class LiveMcp:
    """The host's own connection to /mcp: plain JSON-RPC over HTTP with the user's token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = f"{url}/mcp"
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        }
        self.ids = iter(range(1, 10_000))

    def rpc(self, method: str, params: dict) -> dict:
        message = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        response = requests.post(self.url, json=message, headers=self.headers, timeout=10)
        # A missing scope is a 403 whose body is the tool's error result: a host hands it on.
        assert response.status_code in {HTTPStatus.OK, HTTPStatus.FORBIDDEN}, response.text
        return response.json()["result"]

    def call_tool(self, name: str, arguments: dict) -> dict:
        return self.rpc("tools/call", {"name": name, "arguments": arguments})


@pytest.fixture
def tasks_of_user(user):
    due = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)  # 17:00 in Paris
    return {
        "passport": TaskFactory(owner=user, title="Renew my passport", priority="high", due_at=due),
        "plants": TaskFactory(owner=user, title="Water the plants"),
        "report": TaskFactory(owner=user, title="Write the report", status="in_progress"),
        "taxes": TaskFactory(
            owner=user, title="File the taxes", status="done", completed_at=datetime.now(UTC) - timedelta(days=1)
        ),
    }


@pytest.fixture
def scope():
    return "tasks:read tasks:write"


@pytest.fixture
def host_page(browser, live_server, user, application, scope):
    """A function that opens the host page with the board mounted and showing list_tasks.

    It returns (page, board frame locator, board frame, requests sent outside the host, ms to the rendered list).
    """
    token, _ = issue_access_token(user=user, application=application, scope=scope, resource=[f"{live_server.url}/mcp"])
    mcp = LiveMcp(live_server.url, token)
    files = {path: (built_by_make(file), kind) for path, (file, kind) in HOST_FILES.items()}
    contexts = []

    def open_board(*, theme: str = "light", viewport: str = "desktop"):
        context = browser.new_context(viewport=VIEWPORTS[viewport])
        contexts.append(context)
        outside: list[str] = []

        def serve_only_the_host(route):
            url = route.request.url
            path = url.removeprefix(HOST) or "/"
            if url.startswith(HOST) and path in files:
                file, kind = files[path]
                route.fulfill(status=200, content_type=kind, body=file.read_bytes())
            else:
                outside.append(url)
                route.abort()  # nothing leaves the host page

        context.route("**/*", serve_only_the_host)
        page = context.new_page()
        page.on("request", lambda request: None if request.url.startswith(HOST) else outside.append(request.url))
        page.expose_function("callTool", mcp.call_tool)
        page.goto(HOST + "/")

        # As a host does: read the tool's UI resource from the server, then frame it.
        resource = mcp.rpc("resources/read", {"uri": BOARD_URI})["contents"][0]
        assert resource["mimeType"] == "text/html;profile=mcp-app"
        started = time.perf_counter()
        page.evaluate(
            "([html, context]) => host.mount(html, context)", [resource["text"], {**HOST_CONTEXT, "theme": theme}]
        )
        page.wait_for_function("host.log.initialized")
        page.evaluate("() => host.showToolCall('list_tasks', {})")
        board = page.frame_locator("#board")
        board.get_by_role("checkbox", name="Water the plants").wait_for()
        rendered_ms = (time.perf_counter() - started) * 1000
        frame = page.locator("#board").element_handle().content_frame()
        return page, board, frame, outside, rendered_ms

    yield open_board
    for context in contexts:
        context.close()


def test_the_board_in_a_host_shows_the_tasks_completes_and_adds_them_through_mcp(
    host_page, tasks_of_user, user, application, artifacts_dir
):
    page, board, frame, outside, rendered_ms = host_page()

    # The handshake: ui/initialize answered, ui/notifications/initialized received.
    assert page.evaluate("host.log.initialized") is True
    # The result of list_tasks, grouped by status, due dates in the host's locale and time zone.
    assert board.get_by_role("heading", name="To do (2)").is_visible()
    assert board.get_by_role("heading", name="In progress (1)").is_visible()
    assert board.get_by_role("checkbox", name="Renew my passport").is_visible()
    passport_meta = board.locator(f"#meta-{tasks_of_user['passport'].public_id}").inner_text()
    assert "High priority" in passport_meta
    assert "Fri 1 May" in passport_meta
    assert "17:00" in passport_meta
    done = board.get_by_text("Done (1)")
    done.click()  # done tasks fold away
    assert board.get_by_role("checkbox", name="File the taxes").is_checked()
    done.click()

    # Ticking a task completes it in the database, through the tool, and the model is told.
    board.get_by_role("checkbox", name="Water the plants").check()
    plants = tasks_of_user["plants"]
    # (Playwright runs the host's callTool only while the test waits on Playwright.)
    board.get_by_role("status").filter(has_text="Marked done: Water the plants").wait_for()
    assert Task.objects.get(pk=plants.pk).status == "done"
    calls = page.evaluate("host.log.toolCalls")
    assert {"name": "complete_task", "arguments": {"task_id": str(plants.public_id)}} in calls
    context_text = page.evaluate("host.log.modelContext")[-1]["content"][0]["text"]
    assert "Marked done “Water the plants”" in context_text

    # Adding a task.
    board.get_by_label("New task").fill("Buy milk")
    board.get_by_role("button", name="Add").click()
    board.get_by_role("checkbox", name="Buy milk").wait_for()
    milk = Task.objects.get(owner=user, title="Buy milk")
    assert milk.status == "todo"
    # Added through the app: the board says which one; the person's own tasks say nothing.
    assert f"added by {application.name}" in board.locator(f"#meta-{milk.public_id}").inner_text()
    assert "added by" not in passport_meta
    assert "Added “Buy milk”" in page.evaluate("host.log.modelContext")[-1]["content"][0]["text"]

    # A task deleted meanwhile: the error in words, the box unticked, the board still usable.
    tasks_of_user["report"].delete()
    board.get_by_role("checkbox", name="Write the report").check()
    alert = board.get_by_role("alert")
    alert.wait_for()
    assert "Could not change “Write the report”: No task with this id among yours" in alert.inner_text()
    assert not board.get_by_role("checkbox", name="Write the report").is_checked()
    board.get_by_label("New task").fill("Still works")
    board.get_by_role("button", name="Add").click()
    board.get_by_role("checkbox", name="Still works").wait_for()
    assert not alert.is_visible()

    # The host turns dark: the board follows (host-context-changed).
    page.evaluate("host.setTheme('dark')")
    frame.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    assert frame.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(31, 31, 31)"

    # Its size is reported, under the 500 px an inline board may take.
    sizes = page.evaluate("host.log.sizes")
    assert sizes
    assert 150 < sizes[-1]["height"] < 500
    assert frame.evaluate("document.documentElement.scrollHeight <= innerHeight + 1")  # no scroll inside

    assert outside == []
    (artifacts_dir / "widget-first-render.json").write_text(
        json.dumps({"resource_to_rendered_list_ms": round(rendered_ms, 1)}) + "\n"
    )


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_board_looks_right_and_axe_finds_no_serious_violation(
    host_page, tasks_of_user, artifacts_dir, theme, viewport
):
    page, board, frame, outside, _ = host_page(theme=theme, viewport=viewport)
    if theme == "dark":
        page.evaluate("document.body.classList.add('dark')")
    frame.wait_for_function(f"document.documentElement.dataset.theme === '{theme}'")
    page.wait_for_function("host.log.sizes.length > 0")
    page.screenshot(path=artifacts_dir / f"task-board-{theme}-{viewport}.png", full_page=True)

    frame.add_script_tag(content=built_by_make(AXE).read_text())
    violations = frame.evaluate(
        """() => axe.run(document, {resultTypes: ["violations"]}).then((results) =>
            results.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target)})))"""
    )
    serious = [violation for violation in violations if violation["impact"] in {"serious", "critical"}]
    assert serious == []
    assert outside == []


@pytest.mark.parametrize("scope", ["tasks:read"])
def test_a_missing_scope_is_said_in_the_board_and_nothing_changes(host_page, tasks_of_user, scope):
    page, board, frame, outside, _ = host_page()

    board.get_by_role("checkbox", name="Water the plants").check()

    alert = board.get_by_role("alert")
    alert.wait_for()
    assert "This needs the tasks:write scope, which you have not allowed this app." in alert.inner_text()
    assert not board.get_by_role("checkbox", name="Water the plants").is_checked()
    assert Task.objects.get(pk=tasks_of_user["plants"].pk).status == "todo"
    assert page.evaluate("host.log.modelContext") == []


def test_the_board_works_from_the_keyboard_with_a_visible_focus(host_page, tasks_of_user):
    page, board, frame, outside, _ = host_page()
    frame.focus("#new-title")

    frame.page.keyboard.type("Call the plumber")
    frame.page.keyboard.press("Enter")
    board.get_by_role("checkbox", name="Call the plumber").wait_for()
    assert Task.objects.filter(title="Call the plumber").exists()

    # Tab to the first task's checkbox, tick it with the space bar.
    for _ in range(10):
        frame.page.keyboard.press("Tab")
        if frame.evaluate("document.activeElement.type") == "checkbox":
            break
    focused = frame.evaluate("document.activeElement.labels[0].textContent")
    outline = frame.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in {"none", ""}
    frame.page.keyboard.press("Space")
    board.get_by_role("status").filter(has_text=f"Marked done: {focused}").wait_for()
    assert Task.objects.get(title=focused).status == "done"
    # The done task folded away: the keyboard lands on the fold, not at the top of the page.
    assert frame.evaluate("document.activeElement.tagName") == "SUMMARY"
