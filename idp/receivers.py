"""Audit events of things done outside our own code: Django's login and django-axes.

Connected in IdpConfig.ready(). Each receiver only records; no rule lives here.
"""

from __future__ import annotations

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.dispatch import receiver

from accounts.backends import LOGIN_METHODS
from idp.audit import AuditEvent, audit_record


@receiver(user_logged_in, dispatch_uid="idp.audit.login_succeeded")
def record_login(sender, request, user, **kwargs) -> None:
    audit_record(
        kind=AuditEvent.Kind.LOGIN_SUCCEEDED,
        user=user,
        request=request,
        method=LOGIN_METHODS.get(getattr(user, "backend", ""), "other"),
    )


def _typed_account(value) -> tuple[str, object]:
    """What was typed as the email (lowercased), only when it is an email
    address, so that a password typed into the wrong field is never stored;
    and the user it names, if any."""
    email = value if isinstance(value, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        return "", None
    return email.lower()[:254], get_user_model().objects.filter(email__iexact=email).first()


@receiver(user_login_failed, dispatch_uid="idp.audit.login_failed")
def record_login_failure(sender, credentials, request=None, **kwargs) -> None:
    """`credentials` holds what was typed, the password included (Django masks
    it, but other backends' keyword arguments, such as an upstream's nonce,
    are not): only the email is kept."""
    email, user = _typed_account(credentials.get("username"))
    audit_record(
        kind=AuditEvent.Kind.LOGIN_FAILED,
        user=user,
        request=request,
        email=email,
        method="password" if "username" in credentials else "other",
    )


@receiver(user_locked_out, dispatch_uid="idp.audit.login_locked_out")
def record_login_lockout(sender, request, username=None, ip_address=None, **kwargs) -> None:
    """django-axes refused a login: too many failures for this account or from this address.

    Sent when the limit is reached and again for each attempt while the lockout lasts.
    """
    email, user = _typed_account(username)
    audit_record(
        kind=AuditEvent.Kind.LOGIN_LOCKED_OUT,
        user=user,
        request=request,
        email=email,
        failure_limit=settings.AXES_FAILURE_LIMIT,
        cooloff_minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    )
