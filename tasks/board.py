"""The task board: the MCP Apps widget of the task tools (`ui://taskgate/task-board.html`).

Its code lives in tasks/widget/ as a plain HTML page with its stylesheet and
script beside it, readable and openable as they are. Hosts render one
self-contained document in a sandboxed iframe that may fetch nothing, so the
stylesheet and the script are put inline here, once, when the server starts:
no build step, and no Node, to serve it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

TASK_BOARD_URI = "ui://taskgate/task-board.html"
WIDGET_DIR = Path(__file__).resolve().parent / "widget"
STYLESHEET = '<link rel="stylesheet" href="task-board.css">'
SCRIPT = '<script src="task-board.js"></script>'


@cache
def task_board_html() -> str:
    page = (WIDGET_DIR / "task-board.html").read_text(encoding="utf-8")
    css = (WIDGET_DIR / "task-board.css").read_text(encoding="utf-8")
    js = (WIDGET_DIR / "task-board.js").read_text(encoding="utf-8")
    # Inline, "</" would end the element early; the files are ours, so refuse rather than escape.
    for name, text in (("task-board.css", css), ("task-board.js", js)):
        if "</" in text:
            raise ValueError(f"tasks/widget/{name} must not contain '</': it is inlined into the board's HTML.")
    if STYLESHEET not in page or SCRIPT not in page:
        raise ValueError(
            "tasks/widget/task-board.html must link task-board.css and task-board.js as the loader expects."
        )
    return page.replace(STYLESHEET, f"<style>\n{css}</style>").replace(SCRIPT, f"<script>\n{js}</script>")
