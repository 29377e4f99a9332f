"""The audit log: security events of every app (logins, consents, tokens, connected apps).

Accounts, the provider and the admin all write here, so this module imports
nothing of the provider (django-oauth-toolkit): the app is a foreign key by
the swappable setting's name. Its model is registered through idp.models.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from config.precompiled import Insert

if TYPE_CHECKING:
    from idp.models import Application


class AuditEvent(models.Model):
    """A security event, for admins to see what happened when something looks wrong.

    Written only through audit_record below, which never stores a
    password, secret, code or token. Read-only in the admin; kept for
    AUDIT_RETENTION_DAYS and then deleted by `manage.py prune_audit_log`.
    The user and app are kept as links (emptied if they are deleted) and as
    a label, so that an event still says whom it was about afterwards.
    """

    class Kind(models.TextChoices):
        LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOGIN_LOCKED_OUT = "login_locked_out", "Login locked out (too many failures)"
        SIGNED_UP = "signed_up", "Signed up"
        EMAIL_VERIFIED = "email_verified", "Email verified"
        EMAIL_CHANGED = "email_changed", "Email changed"
        CONSENT_GIVEN = "consent_given", "Consent given"
        CONSENT_DENIED = "consent_denied", "Consent denied"
        TOKEN_ISSUED = "token_issued", "Token issued"
        REFRESH_TOKEN_REUSED = "refresh_token_reused", "Refresh token reuse detected (family revoked)"
        CODE_REPLAYED = "code_replayed", "Authorization code replayed (its tokens revoked)"
        TOKEN_REVOKED = "token_revoked", "Token revoked"
        APP_CREATED = "app_created", "App created"
        APP_CHANGED = "app_changed", "App changed"
        APP_REGISTERED = "app_registered", "App registered dynamically"
        APP_DISABLED = "app_disabled", "App disabled"
        APP_DELETED = "app_deleted", "App deleted"
        PASSKEY_ADDED = "passkey_added", "Passkey added"
        PASSKEY_REMOVED = "passkey_removed", "Passkey removed"
        TOTP_ADDED = "totp_added", "Authenticator app set up"
        TOTP_REMOVED = "totp_removed", "Authenticator app removed"
        RECOVERY_CODES_CREATED = "recovery_codes_created", "Recovery codes made"
        RECOVERY_CODE_USED = "recovery_code_used", "Recovery code used"
        SECOND_FACTOR_FAILED = "second_factor_failed", "Second factor failed"
        SECOND_FACTORS_RESET = "second_factors_reset", "Second factors reset by an admin"

    created_at = models.DateTimeField("when", default=timezone.now, db_index=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user_label = models.CharField("user (as recorded)", max_length=254, blank=True)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="app",
    )
    application_label = models.CharField("app (as recorded)", max_length=255, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"


# Details are short plain facts. A key that names a credential is dropped
# whatever its value, as a net under the callers' own care.
_SECRET_KEY_PARTS = ("password", "secret", "token", "code", "verifier", "credential", "assertion", "cookie", "key")
_DETAIL_TEXT_LIMIT = 200
USER_AGENT_LIMIT = 300


def _detail_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set):
        return [_detail_value(item) for item in list(value)[:20]]
    return str(value)[:_DETAIL_TEXT_LIMIT]


def _client_of(request) -> tuple[str | None, str]:
    """The address and user agent of a Django request, or of the oauthlib
    request DOT builds from one (whose headers are the request's META)."""
    if request is None:
        return None, ""
    meta = getattr(request, "META", None)
    if meta is None:
        meta = getattr(request, "headers", None) or {}
    address = meta.get("REMOTE_ADDR") or None
    try:
        address = str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        address = None
    return address, str(meta.get("HTTP_USER_AGENT") or "")[:USER_AGENT_LIMIT]


_INSERT = Insert(AuditEvent)


def audit_record(
    *, kind: str, user=None, application: Application | None = None, request=None, **details
) -> AuditEvent:
    """Store a security event with who, which app, from where (address, user agent) and short details.

    Never give it a password, secret, code or token: a detail whose key
    names one is dropped anyway. `request` is a Django request or DOT's
    oauthlib request; no proxy header is trusted for the address.
    """
    address, user_agent = _client_of(request)
    if user is not None and not getattr(user, "pk", None):
        user = None  # AnonymousUser, or a user not saved
    clean = {
        key: _detail_value(value)
        for key, value in details.items()
        if not any(part in key.lower() for part in _SECRET_KEY_PARTS)
    }
    event = AuditEvent(
        kind=kind,
        user=user,
        user_label=(user.email if user is not None else "")[:254],
        application=application if application is not None and application.pk else None,
        application_label=(f"{application.name} ({application.client_id})" if application is not None else "")[:255],
        ip_address=address,
        user_agent=user_agent,
        details=clean,
    )
    # Written once (config.precompiled.Insert): one event per token issued, on the token endpoint's path.
    _INSERT.save(event)
    return event


def audit_prune(*, older_than_days: int) -> int:
    """Delete the audit events older than `older_than_days` days; returns how many went."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise ValidationError(f"Keep audit events at least 1 day; got {older_than_days!r}.")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
