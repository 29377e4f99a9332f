"""OpenID Connect Core §5.3: the userinfo endpoint."""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse
from oauth2_provider import views as dot


class UserInfoView(dot.UserInfoView):
    """OpenID Connect Core §5.3. The access token is read from the
    Authorization header or the form body (RFC 6750 §2.1, §2.2), never the
    query string (RFC 9700 §4.3.2), which DOT's view still accepts."""

    def dispatch(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            return JsonResponse(
                {
                    "error": "invalid_request",
                    "error_description": "Send the access token in the Authorization header, not the URL.",
                },
                status=HTTPStatus.BAD_REQUEST,
                headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
            )
        return super().dispatch(request, *args, **kwargs)
