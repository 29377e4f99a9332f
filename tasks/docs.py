"""The API's docs page: Swagger UI, served from our own static files under our CSP."""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerView


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
