"""The login lockout's callables for django-axes (OWASP ASVS 2.2.1): whom an attempt
names (AXES_USERNAME_CALLABLE) and the page a locked-out login gets (AXES_LOCKOUT_CALLABLE)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render

logger = logging.getLogger(__name__)


def login_attempt_username(request: HttpRequest, credentials: dict | None) -> str:
    """The account a login attempt names, as django-axes counts it: emails in any case are one account."""
    username = (credentials or {}).get("username") or request.POST.get("username") or ""
    return username.strip().lower()


def locked_out(request: HttpRequest, response=None, credentials: dict | None = None, *args, **kwargs):
    """django-axes' answer to a locked-out account or address (AXES_LOCKOUT_CALLABLE).

    429 (RFC 6585 §4) with Retry-After and a page that says why and for how
    long, in the site's layout. The lockout is recorded by axes
    (AccessAttempt) and logged as a warning.
    """
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    logger.warning(
        "Login locked out for %s minutes after %s failed attempts (address %s).",
        minutes,
        settings.AXES_FAILURE_LIMIT,
        request.META.get("REMOTE_ADDR", "unknown"),
    )
    response = render(
        request,
        "registration/lockout.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
