"""The API docs page (/api/docs): Swagger UI from our own files, under the site's CSP."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest


def test_the_docs_page_loads_swagger_ui_from_this_site_with_the_csp_nonce(client):
    response = client.get("/api/docs")

    assert response.status_code == HTTPStatus.OK
    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources, "the page loads Swagger UI's files"
    assert all(source.startswith("/static/") for source in sources), sources
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline_scripts == [f' nonce="{nonce}"'], "the one inline script carries the nonce"
    assert "<style" not in html, "style-src 'self' would block an inline style"
    assert '"/api/schema"' in html


@pytest.mark.browser
@pytest.mark.live
def test_swagger_ui_renders_every_operation_under_the_csp_in_a_real_browser(browser, live_server):
    # The run's one browser (tests.browser, through tests/conftest.py): a second
    # sync_playwright() in this thread would find the first one's event loop running.
    page = browser.new_page()
    try:
        problems: list[str] = []
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{live_server.url}/api/docs")
        page.wait_for_selector("#operations-tasks-listTasks", timeout=20_000)
        operations = page.locator(".opblock-summary-operation-id, .opblock").count()
    finally:
        page.close()

    assert operations >= 7
    assert problems == [], problems
