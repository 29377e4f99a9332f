"""ASGI entry point, for ASGI servers: `uvicorn config.asgi:application`.

The production server is granian's WSGI server with config.wsgi
(`python -m config.serve`), which calls Django without the thread hand-off
below; this entry point serves the same site under any ASGI server, and is
the benchmark's ceiling (benchmarks/README.md).

Django serves everything but the MCP endpoint, which the MCP SDK's app serves
(tasks.mcp). The lifespan events go to the MCP app, which needs them to start
and stop its session manager.

Django runs as a WSGI application in a pool of DJANGO_THREADS threads
(a2wsgi): every view and middleware of ours is synchronous, and Django's ASGI
handler would hand each request between the event loop and threads about ten
times (a new thread per request, each signal, the middleware chain, the view).
On the benchmark machine that cost about 5 ms a request, more than Django's
own work; one hand-off costs about 0.3 ms (benchmarks/README.md).
"""

from __future__ import annotations

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

from config.access_log import access_log_redact
from config.startup import settings_load_or_exit  # noqa: E402

settings_load_or_exit()
django_wsgi = get_wsgi_application()
# After Django has configured logging (LOGGING): the filter goes on the loggers it set up.
access_log_redact()

# Imported once Django is set up: the tools use its models.
from asgiref.sync import ThreadSensitiveContext, sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import close_old_connections, connections  # noqa: E402

from idp import token_cache  # noqa: E402
from tasks.mcp import http_app  # noqa: E402

mcp_application, mcp_lifespan = http_app()
MCP_PATHS = {settings.MCP_PATH, settings.MCP_PATH + "/"}
django_application = WSGIMiddleware(django_wsgi, workers=settings.DJANGO_THREADS)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        # Each server process listens for the end of tokens (idp.token_cache), once.
        token_cache.listen()
        await mcp_lifespan(scope, receive, send)
    elif scope["type"] == "http" and scope["path"] in MCP_PATHS:
        # One path for the MCP app's router, which would redirect /mcp/ to /mcp.
        await _with_database_thread(
            mcp_application, {**scope, "path": settings.MCP_PATH, "raw_path": settings.MCP_PATH.encode()}, receive, send
        )
    else:
        await django_application(scope, receive, send)


async def _with_database_thread(app, scope, receive, send) -> None:
    """The request's database work (sync_to_async) in a thread of its own, whose connections
    are closed at the end, as Django's ASGI handler does for its requests."""
    async with ThreadSensitiveContext():
        await sync_to_async(close_old_connections)()
        try:
            await app(scope, receive, send)
        finally:
            await sync_to_async(connections.close_all)()
