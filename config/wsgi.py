"""WSGI entry point, the production one: `granian --interface wsgi config.wsgi:application` (`make run`).

Django serves everything but the MCP endpoint. `/mcp` is the MCP SDK's ASGI
app (tasks.mcp), run on an event loop of this process by config.bridge: a
stateless server with JSON responses answers each POST with one JSON body,
which a WSGI server can carry. The server runs Django's views in its own
threads, with no ASGI-to-WSGI hand-off per request (benchmarks/README.md).
"""

import gc
import os
import threading

from django.core.wsgi import get_wsgi_application

from config.access_log import access_log_redact
from config.startup import settings_load_or_exit

settings_load_or_exit()
django_application = get_wsgi_application()
# After Django has configured logging (LOGGING): the filter goes on the loggers it set up.
access_log_redact()

# Imported once Django is set up: the tools use its models.
from django.conf import settings  # noqa: E402
from django.db import close_old_connections  # noqa: E402

from config.bridge import AsgiBridge  # noqa: E402
from idp import token_cache  # noqa: E402
from tasks.mcp import http_app  # noqa: E402
from tasks.mcp_auth import MAX_BODY  # noqa: E402

_mcp_app, _mcp_lifespan = http_app()
MCP_PATHS = {settings.MCP_PATH, settings.MCP_PATH + "/"}
mcp_application = AsgiBridge(_mcp_app, lifespan=_mcp_lifespan, max_body=MAX_BODY)


_listening_in: int | None = None
_listening_lock = threading.Lock()


def _listen_once_per_process() -> None:
    """Each server process listens for the end of tokens (idp.token_cache), from its first request
    (config.asgi does it at its lifespan's start; a WSGI server has no such event)."""
    global _listening_in
    with _listening_lock:
        if _listening_in != os.getpid():
            _listening_in = os.getpid()
            token_cache.listen()


class WarmUp:
    """gc.freeze() once in each process, after its first `requests` requests.

    A process holds some 190,000 objects that live as long as it does
    (modules, classes, Django's and the MCP SDK's caches, most made by the
    first requests), and CPython's full collection walks them all: 60-110 ms
    with every thread of the process stopped, a few times a minute under
    load, which made the slowest MCP requests (asyncio's objects fill the
    young generations) ten times the median. Frozen, they are never walked
    again; a full collection then takes under a millisecond
    (benchmarks/README.md). What is frozen is never freed: the few objects of
    requests in flight at that moment, once per process.
    """

    def __init__(self, requests: int) -> None:
        self.left = requests
        self._lock = threading.Lock()

    def request_seen(self) -> None:
        with self._lock:
            self.left -= 1
            if self.left == 0:
                gc.freeze()


_warm_up = WarmUp(settings.GC_FREEZE_AFTER_REQUESTS)


def application(environ, start_response):
    if _listening_in != os.getpid():
        _listen_once_per_process()
    if _warm_up.left > 0:
        _warm_up.request_seen()
    if environ.get("PATH_INFO") in MCP_PATHS:
        # One path for the MCP app's router, which would redirect /mcp/ to /mcp.
        environ["PATH_INFO"] = settings.MCP_PATH
        # The request's database work runs in this thread (config.bridge): its
        # connections are looked after as Django's handler does for its requests.
        close_old_connections()
        try:
            return mcp_application(environ, start_response)
        finally:
            close_old_connections()
    return django_application(environ, start_response)


if settings.TRUSTED_PROXIES:
    from granian.utils.proxies import wrap_wsgi_with_proxy_headers

    # The client's address from X-Forwarded-For, believed only from these proxies (DJANGO_TRUSTED_PROXIES).
    application = wrap_wsgi_with_proxy_headers(application, trusted_hosts=settings.TRUSTED_PROXIES)
