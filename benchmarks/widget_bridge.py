"""The task board's bridge: our own (tasks/widget/task-board.js) against the official App, bundled.

Not part of `make test`. Measures what each would ship inside the board's one
HTML document (bytes, gzipped bytes) and how long headless chromium takes to
load a document carrying it (script parse and run, to DOMContentLoaded),
the median of `-n` loads. Needs `make test-tools` (esbuild, the npm package)
and Debian's chromium:

    DJANGO_DEBUG=1 .venv/bin/python benchmarks/widget_bridge.py -n 30
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def official_app_bundle() -> str:
    """The official App, bundled with esbuild as an IIFE, the way the examples inline it."""
    with tempfile.TemporaryDirectory(dir=BASE_DIR) as directory:
        entry = Path(directory) / "entry.js"
        entry.write_text('import { App } from "@modelcontextprotocol/ext-apps";\nwindow.App = App;\n')
        out = Path(directory) / "app.js"
        # Our own fixed command line, with npx from PATH as `make test-tools` uses it.
        subprocess.run(  # noqa: S603
            ["npx",  # noqa: S607 "--no-install", "esbuild", str(entry), "--bundle", "--format=iife", "--minify",
             f"--outfile={out}", "--log-level=warning"],
            cwd=BASE_DIR, check=True,
        )  # fmt: skip
        return out.read_text()


def load_ms(page, html: str) -> float:
    page.set_content(html, wait_until="domcontentloaded")
    return page.evaluate("performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd || 0") or 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=30, help="loads per variant")
    arguments = parser.parse_args()

    import django

    django.setup()
    from playwright.sync_api import sync_playwright

    from tasks.board import task_board_html
    from tests.browser import CHROMIUM_ARGS, chromium_path

    ours = (BASE_DIR / "tasks" / "widget" / "task-board.js").read_text()
    official = official_app_bundle()
    board = task_board_html()
    variants = {"own bridge (task-board.js)": ours, "official App (bundled)": official}
    # The same board markup and stylesheet; only the script differs. Without a host, each only sets itself up.
    documents = {
        name: board.replace(ours, script.replace("</script", "<\\/script")) for name, script in variants.items()
    }
    for name, script in variants.items():
        size = len(script.encode())
        print(f"{name}: {size:,} bytes, {len(gzip.compress(script.encode(), 9)):,} gzipped")
    for name, html in documents.items():
        print(f"whole board document with the {name}: {len(html.encode()):,} bytes")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("**/*", lambda route: route.abort())
        for name, html in documents.items():
            timings = []
            for _ in range(arguments.n):
                page.goto("about:blank")
                timings.append(load_ms(page, html))
            print(f"{name}: median {statistics.median(timings):.1f} ms to DOMContentLoaded over {arguments.n} loads")
        browser.close()


if __name__ == "__main__":
    main()
