"""Who may call the task API, and with which scope (RFC 6750, RFC 8707)."""

from __future__ import annotations

from django.conf import settings
from oauth2_provider.www_authenticate import build_bearer_challenge
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from idp.bearer import Grant, bearer_verify
from idp.services.consents import consent_mark_used

READ_SCOPE = "tasks:read"
WRITE_SCOPE = "tasks:write"


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


class TaskTokenAuthentication(BaseAuthentication):
    """Bearer access tokens of this provider, in the Authorization header only (RFC 6750 §2.1).

    The rule is idp.bearer's, for the resource SITE_URL/api: a token issued
    for another resource, such as the MCP endpoint, is refused as
    `invalid_token`, never passed on. A request that sends a bearer token
    that fails is refused outright, rather than falling back to the browser
    session. `request.auth` is the token's idp.bearer.Grant.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request):
        scheme, _, raw_token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        if "access_token" in request.query_params:
            # RFC 9700 §4.3.2: a token in the URL is refused, even beside one in the header.
            self._refuse(request, "Send the access token in the Authorization header only.")
        verdict = bearer_verify(raw_token=raw_token.strip(), resource=settings.API_RESOURCE_URL)
        if verdict.grant is None:
            self._refuse(request, verdict.problem)
        consent_mark_used(user_id=verdict.grant.user.pk, application_id=verdict.grant.application_id)
        return verdict.grant.user, verdict.grant

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
        if not isinstance(token, Grant):
            return True
        scope = required_scope(request.method)
        if not token.allow_scopes([scope]):
            raise InsufficientScope(scope)
        return True
