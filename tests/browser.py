"""Debian's chromium, driven by Playwright, headless and offline (no browser download)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    # Without these, chromium keeps calling home on a machine with no internet.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium (.ci/run does it).")
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, so Django takes
    # the test's own (synchronous) database work for async code. Allowed in the
    # test process only: tests.live.LiveServer never passes it to the server.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# --- Pages a person sees: offline, screenshots at two widths, axe-core ----------------

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
AXE_SCRIPT = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.x A and AA rules and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING_IMPACTS = {"serious", "critical"}


def stay_offline(
    page, site_url: str, *, client_redirect_uri: str | None = None, arrived: list | None = None
) -> list[str]:
    """Route every request off `site_url` to an error and return the list of those
    refused, which a test expects empty: a page that loads anything from a CDN fails.
    The client's redirect URI, when given, gets a stub page and is noted in `arrived`."""
    refused: list[str] = []

    def route(route):
        url = route.request.url
        if client_redirect_uri and url.startswith(client_redirect_uri):
            if arrived is not None:
                arrived.append(url)
            route.fulfill(status=200, content_type="text/plain", body="the client")
        elif url.startswith(site_url):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", route)
    return refused


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page as it is; return the serious and critical violations.

    axe is evaluated through the DevTools protocol (page.evaluate), not added
    as a <script>: the site's CSP (script-src 'self' + nonce) would block an
    injected script tag, and this way the CSP stays on for the whole test, so
    a page that needs an inline script still fails.
    """
    if not AXE_SCRIPT.is_file():
        pytest.fail("axe-core is not installed: run `make install` (npm ci installs node_modules/axe-core).")
    page.evaluate(AXE_SCRIPT.read_text())
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in results["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def check_page(page, artifacts_dir: Path, name: str) -> None:
    """At a phone's and a desktop's width: a full-page screenshot saved as a test
    artifact, no serious or critical axe-core violation, and nothing wider than the
    screen (readable on a phone without scrolling sideways)."""
    original = page.viewport_size
    problems = []
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.screenshot(path=artifacts_dir / f"{name}-{viewport}.png", full_page=True)
        violations = axe_violations(page)
        if violations:
            problems.append(f"{viewport}: {violations}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            problems.append(f"{viewport}: the page is {overflow}px wider than the screen")
    if original:
        page.set_viewport_size(original)
    assert not problems, f"{name} ({page.url}):\n" + "\n".join(problems)
