"""Who may call the task API, and with which scope (RFC 6750, RFC 8707)."""

from __future__ import annotations

from django.conf import settings
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import AbstractAccessToken
from oauth2_provider.www_authenticate import build_bearer_challenge
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

READ_SCOPE = "tasks:read"
WRITE_SCOPE = "tasks:write"


def api_audience() -> str:
    """The resource indicator (RFC 8707 §2) that names the REST API."""
    return settings.SITE_URL + "/api"


class TokenAuthenticationFailed(exceptions.AuthenticationFailed):
    default_code = "invalid_token"


class InsufficientScope(exceptions.PermissionDenied):
    """RFC 6750 §3.1: a valid token without the scope a request needs (403)."""

    default_code = "insufficient_scope"

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__(f"This needs the {scope!r} scope, which the access token was not granted.")

    def challenge(self) -> str:
        return build_bearer_challenge(
            None,
            oauth2_error={"error": "insufficient_scope", "scope": self.scope, "error_description": self.detail},
            realm=TaskTokenAuthentication.www_authenticate_realm,
            resource_metadata_url=None,
        )


class TaskTokenAuthentication(OAuth2Authentication):
    """Bearer access tokens of this provider, in the Authorization header only.

    On top of DOT's checks (known, unexpired, app enabled), a token must be
    meant for this API (RFC 8707): one issued without a `resource`, or with
    SITE_URL/api among its resources. A token minted for another resource,
    such as the MCP endpoint, is refused as `invalid_token`, never passed on.
    A request that sends a bearer token that fails is refused outright,
    rather than falling back to the browser session.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            if request.headers.get("Authorization", "")[:7].lower() == "bearer " or getattr(
                request, "oauth2_error", None
            ):
                request.oauth2_error = request.oauth2_error or {
                    "error": "invalid_token",
                    "error_description": "The access token is invalid.",
                }
                raise TokenAuthenticationFailed(request.oauth2_error.get("error_description"))
            return None
        user, token = result
        if token.resource and api_audience() not in token.resource:
            self._refuse(request, "The access token was issued for another resource.")
        if not user.is_active:
            self._refuse(request, "The access token is invalid.")
        return user, token

    def _refuse(self, request, description: str):
        request.oauth2_error = {"error": "invalid_token", "error_description": description}
        raise TokenAuthenticationFailed(description)

    def authenticate_header(self, request) -> str:
        """RFC 6750 §3: `Bearer realm="api"`, with `error` once a token was sent."""
        return build_bearer_challenge(
            request,
            oauth2_error=getattr(request, "oauth2_error", None),
            realm=self.www_authenticate_realm,
            resource_metadata_url=None,
        )


def required_scope(method: str) -> str:
    return READ_SCOPE if method in SAFE_METHODS else WRITE_SCOPE


class HasTaskScope(BasePermission):
    """Reads need `tasks:read`, writes `tasks:write` (RFC 6750 §3.1 `insufficient_scope` otherwise).

    A person logged in to the site (the docs page) acts with every task scope:
    the session is their own, with CSRF protection for writes.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth
        if not isinstance(token, AbstractAccessToken):
            return True
        scope = required_scope(request.method)
        if not token.allow_scopes([scope]):
            raise InsufficientScope(scope)
        return True
