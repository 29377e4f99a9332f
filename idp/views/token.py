"""The token endpoint (RFC 6749 §3.2), limited per client and address on failed client authentication."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as dot

from idp import activity
from idp.ratelimit import RateLimit, too_many_requests
from idp.views.clients import limit_keys


class TokenView(dot.TokenView):
    """The token endpoint (RFC 6749 §3.2).

    DOT sends device-code requests past oauthlib to a view of its own; we
    serve no devices, so they go through oauthlib like any other grant and
    get its JSON `unsupported_grant_type` (RFC 6749 §5.2). An error raised
    while DOT stores the token, such as RFC 8707's `invalid_target`, comes
    back from DOT without a content type; §5.2 says errors are JSON.

    Failed client authentications (`invalid_client`) are limited per
    client_id and per address (IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT): once over,
    every request of that client or address is answered 429 with Retry-After
    (RFC 6585 §4) until the window ends, so a client secret cannot be guessed
    at speed (RFC 6819 §5.1.4.2.3).

    No transaction spans the request (not ATOMIC_REQUESTS): what is issued
    is stored in the one DOT's save_bearer_token opens, whose first write
    decides which of concurrent requests with one code or refresh token wins
    (TaskgateOAuth2Validator._save_bearer_token). The checks before it only
    read, and a refused reuse's revocations are committed as they are made.
    """

    # csrf_exempt again: DOT's is on the dispatch this overrides.
    @method_decorator(csrf_exempt)
    @method_decorator(transaction.non_atomic_requests)
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request, *args, **kwargs):
        """The token response as oauthlib made it.

        DOT's reads the issued access token back to send `app_authorized`;
        the validator has recorded the issue already (the audit event is
        written with the tokens), so that read and the signal are left out.
        """
        url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response

    def post(self, request, *args, **kwargs):
        if any("\x00" in value for _, values in request.POST.lists() for value in values):
            # No OAuth parameter holds a NUL; PostgreSQL refuses it in a query,
            # which oauthlib's OIDC dispatcher makes before any validator runs.
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Parameters must not contain NUL characters."},
                status=HTTPStatus.BAD_REQUEST,
                headers={"Cache-Control": "no-store"},
            )
        limit = RateLimit.parse("token-auth-failure", settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT)
        keys = limit_keys(request)
        wait = limit.exceeded_any(keys)
        if wait is not None:
            activity.token_refused_counted(application_id=None, status=HTTPStatus.TOO_MANY_REQUESTS)
            return too_many_requests(wait, f"Too many failed client authentications; retry in {wait} s.")
        response = self.authorization_flow_token_response(request)
        if response.status_code >= HTTPStatus.BAD_REQUEST and response["Content-Type"].startswith("text/html"):
            response["Content-Type"] = "application/json"
        # oauthlib answers every failed client authentication with its InvalidClientError, whose
        # status is 401 whichever way the client authenticated (header, body or assertion), and
        # no other error with 401: the status says what happened, the body need not be read.
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            limit.hit_all(keys)
        return response
