"""/mcp inside the WSGI application (config.wsgi): the MCP SDK's ASGI app on one event loop per process.

The WSGI server's thread hands the request to the loop once and waits for the
answer on a queue, running meanwhile the request's database work
(sync_to_async) itself: a general WSGI-to-ASGI bridge (a2wsgi's
ASGIMiddleware) makes a hand-off for every message the app receives or
sends, and the request would need a thread of its own for its database
work. The app's lifespan (the MCP session manager's task group) runs on the
same loop for the life of the process.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from http import HTTPStatus

from asgiref.current_thread_executor import CurrentThreadExecutor
from asgiref.sync import AsyncToSync
from starlette.types import ASGIApp, Message

_DONE = {"type": "bridge.done"}


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def asgi_scope(environ: dict) -> dict:
    """The ASGI HTTP scope of a WSGI request (PEP 3333 to the ASGI spec)."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].lower().replace("_", "-").encode("latin-1"), value.encode("latin-1")))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.lower().replace("_", "-").encode("latin-1"), value.encode("latin-1")))
    root_path = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8")
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": root_path + path,
        "raw_path": (root_path + path).encode("utf-8"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root_path,
        "headers": headers,
        "server": (environ.get("SERVER_NAME", ""), int(environ.get("SERVER_PORT") or 0)),
    }
    if environ.get("REMOTE_ADDR"):
        scope["client"] = (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0))
    return scope


class AsgiBridge:
    """A WSGI application that serves an ASGI app on an event loop of its own.

    `lifespan` (an ASGI app) gets the lifespan startup event before the first
    request and keeps its context until the process ends.
    """

    def __init__(self, app: ASGIApp, *, lifespan: ASGIApp, max_body: int) -> None:
        self.app = app
        self.lifespan = lifespan
        self.max_body = max_body
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _started_loop(self) -> asyncio.AbstractEventLoop:
        # Started on first use, in the worker process: a loop thread made
        # before a server forks its workers would not exist in them.
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="mcp-loop", daemon=True).start()
                started = asyncio.run_coroutine_threadsafe(self._run_lifespan(), loop)
                started.result()
                self._loop = loop
            return self._loop

    async def _run_lifespan(self) -> None:
        """Send lifespan.startup, and return once the app says it has started (or failed to)."""
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        await inbox.put({"type": "lifespan.startup"})

        async def send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and not started.done():
                started.set_result(None)
            elif message["type"] == "lifespan.startup.failed" and not started.done():
                started.set_exception(RuntimeError(message.get("message") or "the MCP app failed to start"))

        # The task holds the app's lifespan context open: the shutdown event never comes.
        self._lifespan_task = asyncio.get_running_loop().create_task(
            self.lifespan({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
        )
        await started

    def __call__(self, environ: dict, start_response) -> Iterator[bytes]:
        loop = self._started_loop()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_body:
            start_response("413 Content Too Large", [("Content-Type", "text/plain")])
            return iter([b"The request body is too large."])
        body = environ["wsgi.input"].read(length) if length else b""
        scope = asgi_scope(environ)
        outbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        answering: Future = Future()
        disconnected = asyncio.Event()
        request_sent = False

        async def receive() -> Message:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            outbox.put(message)
            if message["type"] == "http.response.body" and not answering.done():
                answering.set_result(None)

        executor = CurrentThreadExecutor(None)

        async def serve() -> None:
            in_this_thread(executor)
            await self.app(scope, receive, send)

        future = asyncio.run_coroutine_threadsafe(serve(), loop)
        future.add_done_callback(lambda _: outbox.put(_DONE))
        future.add_done_callback(lambda _: answering.done() or answering.set_result(None))
        # This thread waits for the answer anyway: until it starts, it runs the
        # request's database work (the token check, the tools) that
        # sync_to_async hands it. A stateless server's answer is one JSON body,
        # so all of a request's database work is done by then.
        executor.run_until_future(answering)
        message = outbox.get()
        if message is _DONE or message["type"] != "http.response.start":
            loop.call_soon_threadsafe(disconnected.set)
            error = future.exception() if future.done() else None
            if error is not None:
                raise error
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"The MCP app sent no response."]
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in message["headers"]]
        start_response(_status_line(message["status"]), headers)
        first = outbox.get()
        if first is not _DONE and first["type"] == "http.response.body" and not first.get("more_body", False):
            # A whole answer (every JSON response of a stateless server): no generator to drive.
            loop.call_soon_threadsafe(disconnected.set)
            return [first.get("body", b"")]
        return self._stream(first, future, outbox, loop, disconnected)

    @staticmethod
    def _stream(message, future, outbox, loop, disconnected) -> Iterator[bytes]:
        try:
            while message is not _DONE:
                if message["type"] == "http.response.body":
                    if message.get("body"):
                        yield message["body"]
                    if not message.get("more_body", False):
                        return
                message = outbox.get()
            error = future.exception()
            if error is not None:
                raise error
        finally:
            # The client went away, or the answer is complete: a stream still
            # open on the loop is told the client disconnected.
            loop.call_soon_threadsafe(disconnected.set)


def in_this_thread(executor: CurrentThreadExecutor) -> None:
    """Make thread-sensitive sync_to_async calls of the current task (and of the tasks it
    starts) run in `executor`'s thread: the WSGI thread that waits for the request's answer.

    It is how asgiref's AsyncToSync lets async code call back into the sync
    thread that awaits it (Django's async views under a WSGI server), so that
    a request needs no thread of its own. AsyncToSync.executors is asgiref's,
    used here only; tests/test_wsgi.py fails loudly if that changes.
    """
    AsyncToSync.executors.current = executor
