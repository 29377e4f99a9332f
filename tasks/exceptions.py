"""Every error of the task API as one JSON shape: `{"error": code, "detail": sentence, ...}`."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from tasks.authentication import InsufficientScope

_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "invalid_request",
    HTTPStatus.UNAUTHORIZED: "invalid_token",
    HTTPStatus.FORBIDDEN: "forbidden",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.NOT_ACCEPTABLE: "not_acceptable",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    HTTPStatus.TOO_MANY_REQUESTS: "too_many_requests",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler (which also rolls back the request's transaction), reshaped.

    - 400: `{"error": "invalid_request", "detail": ..., "fields": {"title": ["..."]}}`,
      from a serializer or from a service's django ValidationError alike.
    - 401: `{"error": "invalid_token" (or "unauthorized" when no token was sent), ...}`
      and `WWW-Authenticate: Bearer realm="api"...` (from the authentication class).
    - 403 for a missing scope: `{"error": "insufficient_scope", "scope": ..., "detail": ...}`
      with `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 §3.1).
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("No task with this id.")
    elif isinstance(exc, RequestDataTooBig):
        # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, met while DRF reads the body:
        # answered here in JSON, not as the site's HTML 400 page.
        exc = PayloadTooLarge(f"Send at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes of JSON.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    status = HTTPStatus(response.status_code)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "error": "invalid_request",
            "detail": _summary(fields),
            "fields": {name: [str(message) for message in _flatten(messages)] for name, messages in fields.items()},
        }
    elif isinstance(exc, InsufficientScope):
        response.data = {"error": "insufficient_scope", "scope": exc.scope, "detail": str(exc.detail)}
        response["WWW-Authenticate"] = exc.challenge()
    else:
        code = _ERROR_CODES.get(status, "error")
        detail = exc.detail if isinstance(exc, exceptions.APIException) else status.phrase
        if isinstance(exc, exceptions.NotAuthenticated):
            # No token at all: RFC 6750 §3.1 gives no error code for that.
            code, detail = "unauthorized", "Send an access token: Authorization: Bearer <token>."
        response.data = {"error": code, "detail": str(detail)}
    return response


def _flatten(messages) -> list:
    if isinstance(messages, dict):
        return [f"{key}: {message}" for key, value in messages.items() for message in _flatten(value)]
    if isinstance(messages, list):
        return [message for item in messages for message in _flatten(item)]
    return [messages]


def _summary(fields: dict) -> str:
    names = [name for name in fields if name != "non_field_errors"]
    if not names:
        return " ".join(str(message) for message in _flatten(fields.get("non_field_errors", []))) or "Bad request."
    return "Check " + ", ".join(f"`{name}`" for name in names) + ": see `fields` for what is wrong with each."
