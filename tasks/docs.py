"""The docs pages: the API's OpenAPI document and Swagger UI, and the MCP endpoint's page."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from django.shortcuts import render
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI document at /api/schema: JSON (`application/json`) unless `?format=yaml`.

    drf-spectacular answers YAML first; a GPT imports JSON as well, and JSON
    is what most tools expect from a URL without an extension.
    """

    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer, OpenApiYamlRenderer, OpenApiYamlRenderer2]


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI at /api/docs.

    The page keeps the site's Content-Security-Policy: Swagger UI's files
    come from drf-spectacular-sidecar through our static files ('self'), and
    its one inline start-up script carries the request's CSP nonce (see
    templates/api/swagger_ui.html). "Try it out" works for a person logged in
    to the site: the API accepts the session, with the CSRF header the
    start-up script adds.
    """

    template_name = "api/swagger_ui.html"
    title = "Taskgate API"


def mcp_docs(request):
    """/docs/mcp: how to connect an MCP client, and its tools (the `resource_documentation` of RFC 9728 §2)."""
    from tasks.mcp import TOOL_SCOPES, mcp_server

    tools = [
        {"name": tool.name, "title": tool.title, "description": tool.description, "scope": TOOL_SCOPES[tool.name]}
        for tool in async_to_sync(mcp_server().list_tools)()
    ]
    return render(
        request, "mcp/docs.html", {"mcp_url": settings.MCP_RESOURCE_URL, "tools": tools, "scopes": settings.TASK_SCOPES}
    )
