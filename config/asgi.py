"""ASGI entry point: `uvicorn config.asgi:application`.

Django serves everything but the MCP endpoint, which the MCP SDK's app serves
(tasks.mcp). Django's ASGI handler knows no lifespan events; the MCP app
needs them to start and stop its session manager, so they go to it.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

# Imported once Django is set up: the tools use its models.
from django.conf import settings  # noqa: E402

from tasks.mcp import http_app  # noqa: E402

mcp_application, mcp_lifespan = http_app()
MCP_PATHS = {settings.MCP_PATH, settings.MCP_PATH + "/"}


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await mcp_lifespan(scope, receive, send)
    elif scope["type"] == "http" and scope["path"] in MCP_PATHS:
        # One path for the MCP app's router, which would redirect /mcp/ to /mcp.
        await mcp_application(
            {**scope, "path": settings.MCP_PATH, "raw_path": settings.MCP_PATH.encode()}, receive, send
        )
    else:
        await django_application(scope, receive, send)
