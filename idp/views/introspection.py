"""RFC 7662: token introspection."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot
from oauth2_provider.compat import login_not_required

from idp.bearer import bearer_verify
from idp.ratelimit import RateLimit, too_many_requests
from idp.views.clients import limit_keys, request_client_id


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
# A read: no transaction, whose BEGIN and COMMIT would cost two statements of four.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class IntrospectView(dot.IntrospectTokenView):
    """RFC 7662 token introspection, for POST only (§2.1).

    A client may introspect its own tokens; a resource server with a token
    of the `introspection` scope may introspect any. Unauthenticated callers
    get a JSON `invalid_client` (RFC 6749 §5.2), where DOT answers an HTML 403.
    Requests are limited per caller and per address
    (IDP_INTROSPECTION_RATE_LIMIT): 429 with Retry-After over it.
    """

    http_method_names = ["post", "options"]

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            limit = RateLimit.parse("introspection", settings.IDP_INTROSPECTION_RATE_LIMIT)
            wait = limit.hit_all(limit_keys(request))
            if wait is not None:
                return too_many_requests(wait, f"Too many introspection requests; retry in {wait} s.")
        if request.method == "POST" and not (
            request.headers.get("Authorization")
            or request.POST.get("client_id")
            or request.POST.get("client_assertion")
        ):
            return _invalid_client()
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == HTTPStatus.FORBIDDEN:
            return _invalid_client()
        return response

    def post(self, request, *args, **kwargs):
        raw_token = request.POST.get("token")
        if raw_token is None:
            response = self.get_token_response(None)
        else:
            response = JsonResponse(_introspection(raw_token, caller=request_client_id(request)))
        response["Cache-Control"] = "no-store"
        return response


def _introspection(raw_token: str, *, caller: str | None) -> dict:
    """RFC 7662 §2.2 by idp.bearer's rule: a token the API would refuse (revoked, expired,
    its person made inactive, its app disabled) is not active, whatever its audience.
    Another client's token gets no more than "not active" (RFC 7662 §4)."""
    grant = bearer_verify(raw_token=raw_token, resource=None).grant
    if grant is None or (caller and grant.client_id != caller):
        return {"active": False}
    data = {
        "active": True,
        "scope": grant.scope,
        "exp": int(grant.expires.timestamp()),
        "client_id": grant.client_id,
        "username": grant.user.get_username(),
    }
    if grant.audience:
        data["aud"] = list(grant.audience)
    return data


def _invalid_client() -> JsonResponse:
    return JsonResponse(
        {"error": "invalid_client", "error_description": "Client authentication failed."},
        status=HTTPStatus.UNAUTHORIZED,
        headers={"WWW-Authenticate": 'Basic realm="taskgate"', "Cache-Control": "no-store"},
    )
