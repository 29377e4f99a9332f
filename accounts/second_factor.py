"""Second factors and how a person logged in: passkeys, the authenticator app, recovery codes.

The devices are django-otp's (TOTPDevice, StaticDevice for recovery codes)
and django-otp-webauthn's (WebAuthnCredential, a passkey); this module holds
our rules around them, which the login pages, /account/security, the admin
and the staff gate all call:

- a login with a password is finished only once a person who has a second
  factor has given it (the "pending" login kept in the session until then);
- how the person logged in (`amr`, RFC 8176) and when (`auth_time`) are kept
  in the session, for the tokens the login leads to (idp.authentication);
- changing a factor needs a recent authentication;
- wrong codes are limited like passwords, and each factor change is audited
  without the code, key or credential.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.backends import UPSTREAM_BACKEND
from accounts.models import User
from accounts.services import mail_send
from idp.audit import AuditEvent, audit_record
from idp.authentication import SESSION_KEY
from idp.ratelimit import RateLimit

PENDING_SESSION_KEY = "accounts.second_factor_pending"
REAUTHENTICATED_SESSION_KEY = "accounts.reauthenticated_at"
NEW_RECOVERY_CODES_SESSION_KEY = "accounts.new_recovery_codes"

RECOVERY_CODE_COUNT = 10
RECOVERY_DEVICE_NAME = "Recovery codes"


# --- What a person has -------------------------------------------------------


def user_has_second_factor(*, user: User) -> bool:
    """Whether the person has set up a passkey or an authenticator app (recovery codes alone do not count)."""
    return (
        WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
        or TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    )


def passkey_list(*, user: User) -> list[WebAuthnCredential]:
    return list(WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at", "pk"))


def totp_device_of(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def passkey_method(device: WebAuthnCredential) -> str:
    """RFC 8176 §2: `swk` for a passkey that may be synced to other devices (its key
    lives in software somewhere), `hwk` for one bound to its authenticator."""
    return "swk" if device.backup_eligible else "hwk"


# --- How and when the person logged in (for amr and auth_time) ----------------


def _amr(methods: list[str]) -> list[str]:
    """RFC 8176 values in a stable order, with `mfa` when two kinds of factor were used."""
    ordered = list(dict.fromkeys(methods))
    factors = {"pwd"} & set(ordered), {"otp", "hwk", "swk"} & set(ordered)
    if all(factors) and "mfa" not in ordered:
        ordered.append("mfa")
    return ordered


def session_authentication_set(*, request: HttpRequest, methods: list[str]) -> None:
    """Record a fresh login in the session: `auth_time` now, `amr` the methods used."""
    request.session[SESSION_KEY] = {"amr": _amr(methods), "auth_time": int(time.time())}
    request.session[REAUTHENTICATED_SESSION_KEY] = int(time.time())


def session_authentication_add(*, request: HttpRequest, method: str) -> None:
    """A factor given later in a session (the staff step-up): added to `amr`, `auth_time` kept."""
    current = request.session.get(SESSION_KEY) or {}
    request.session[SESSION_KEY] = {
        "amr": _amr([*current.get("amr", []), method]),
        "auth_time": current.get("auth_time") or int(time.time()),
    }


def session_authentication(request: HttpRequest) -> dict | None:
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, dict) else None


def recently_authenticated(request: HttpRequest) -> bool:
    """Whether the person gave their password or a passkey in this session within
    RECENT_AUTHENTICATION_SECONDS: a browser left logged in cannot change factors."""
    at = request.session.get(REAUTHENTICATED_SESSION_KEY)
    return isinstance(at, int) and time.time() - at <= settings.RECENT_AUTHENTICATION_SECONDS


def mark_recently_authenticated(request: HttpRequest) -> None:
    request.session[REAUTHENTICATED_SESSION_KEY] = int(time.time())


# --- The login that waits for a second factor --------------------------------


@dataclass(frozen=True)
class PendingLogin:
    user: User
    backend: str
    methods: list[str]
    next_url: str


def login_needs_second_factor(*, user: User, backend: str) -> bool:
    """A person with a second factor gives it after the password; an upstream login
    skips ours unless UPSTREAM_OIDC_REQUIRE_LOCAL_2FA (the upstream is trusted for its own)."""
    if backend == UPSTREAM_BACKEND and not settings.UPSTREAM_OIDC_REQUIRE_LOCAL_2FA:
        return False
    return user_has_second_factor(user=user)


def login_pending_start(*, request: HttpRequest, user: User, backend: str, methods: list[str], next_url: str) -> None:
    """Keep the half-done login in the session; the person is not logged in yet."""
    request.session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "backend": backend,
        "methods": methods,
        "next": next_url,
        "at": int(time.time()),
    }


def login_pending(request: HttpRequest) -> PendingLogin | None:
    """The login waiting for a second factor in this session, if any and not too old."""
    data = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(data, dict) or time.time() - data.get("at", 0) > settings.SECOND_FACTOR_PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None:
        return None
    return PendingLogin(user=user, backend=data["backend"], methods=list(data["methods"]), next_url=data["next"])


def login_complete(*, request: HttpRequest, user: User, backend: str, methods: list[str], device=None) -> None:
    """Log the person in (a new session key) and remember how, with the device that verified it."""
    request.session.pop(PENDING_SESSION_KEY, None)
    auth_login(request, user, backend=backend)
    if device is not None:
        otp_login(request, device)
    session_authentication_set(request=request, methods=methods)


# --- Codes: the authenticator app and recovery codes --------------------------


def _failure_limit() -> RateLimit:
    # The same numbers as the password lockout (django-axes): a second factor
    # is no easier to guess through than a password.
    return RateLimit(
        name="second-factor",
        count=settings.AXES_FAILURE_LIMIT,
        seconds=int(settings.AXES_COOLOFF_TIME.total_seconds()),
    )


class SecondFactorLocked(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def second_factor_locked(*, user: User) -> int | None:
    """Seconds until the person may try a code again, when too many were wrong."""
    return _failure_limit().exceeded_any([str(user.pk)])


def code_verify(*, user: User, code: str, request: HttpRequest | None = None):
    """The device a code from the authenticator app or a recovery code belongs to.

    Raises SecondFactorLocked after AXES_FAILURE_LIMIT wrong codes within
    AXES_COOLOFF_MINUTES, and ValidationError for a wrong code (counted and
    audited, never the code). A failure is recorded, not rolled back: the
    check runs in its own savepoint, and the refusal is raised after it.
    """
    retry_after = second_factor_locked(user=user)
    if retry_after is not None:
        raise SecondFactorLocked(retry_after)
    device = _code_device(user=user, code=code, request=request)
    if device is not None:
        return device
    # As django-axes: the AXES_FAILURE_LIMIT-th wrong code locks at once.
    _failure_limit().hit(str(user.pk))
    retry_after = _failure_limit().exceeded_any([str(user.pk)])
    audit_record(kind=AuditEvent.Kind.SECOND_FACTOR_FAILED, user=user, request=request, method="code")
    if retry_after is not None:
        raise SecondFactorLocked(retry_after)
    raise ValidationError("That code is not right, or was used already. Try the next code from your app.")


@transaction.atomic
def _code_device(*, user: User, code: str, request):
    """The rows are locked so that one code sent twice at the same instant passes
    once: django-otp refuses a TOTP code whose time step was used already
    (`last_t`), and deletes a recovery code as it is used."""
    code = "".join(str(code or "").split()).lower()
    if code.isdigit() and len(code) == 6:
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is not None and device.verify_token(code):
            return device
    elif 0 < len(code) <= 32:
        for device in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(code):
                left = recovery_codes_left(user=user)
                audit_record(kind=AuditEvent.Kind.RECOVERY_CODE_USED, user=user, request=request, left=left)
                return device
    return None


def totp_device_start(*, user: User) -> TOTPDevice:
    """A new authenticator-app key, unconfirmed (it counts once a first code from it is given).

    An earlier unconfirmed one is replaced: only the QR code shown last works.
    """
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_device_pending(*, user: User, device_id) -> TOTPDevice | None:
    try:
        return TOTPDevice.objects.filter(user=user, confirmed=False, pk=int(device_id)).first()
    except (TypeError, ValueError):
        return None


@transaction.atomic
def totp_device_confirm(*, user: User, device: TOTPDevice, code: str, request=None) -> list[str] | None:
    """Confirm the app with a first code from it; it then replaces any earlier app.

    Returns new recovery codes when the person had none, else None. Raises
    ValidationError for a wrong code (nothing changes).
    """
    code = "".join(str(code or "").split())
    if not (code.isdigit() and len(code) == 6) or not device.verify_token(code):
        raise ValidationError("That code is not right. Type the 6 digits your app shows now.")
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_record(kind=AuditEvent.Kind.TOTP_ADDED, user=user, request=request)
    if request is not None:
        otp_login(request, device)
    return recovery_codes_make(user=user, request=request) if not recovery_codes_left(user=user) else None


@transaction.atomic
def totp_device_remove(*, user: User, request=None) -> bool:
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    if deleted:
        audit_record(kind=AuditEvent.Kind.TOTP_REMOVED, user=user, request=request)
        _forget_recovery_codes_without_factor(user=user)
    return bool(deleted)


@transaction.atomic
def recovery_codes_make(*, user: User, request=None) -> list[str]:
    """Ten new single-use recovery codes; the earlier set stops working. Shown once by the caller."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    audit_record(kind=AuditEvent.Kind.RECOVERY_CODES_CREATED, user=user, request=request, count=len(codes))
    return codes


def _forget_recovery_codes_without_factor(*, user: User) -> None:
    # Recovery codes stand in for a factor that is lost; with none left they
    # would be a second factor of their own, which nobody set up.
    if not user_has_second_factor(user=user):
        StaticDevice.objects.filter(user=user).delete()


# --- Passkeys ----------------------------------------------------------------


@transaction.atomic
def passkey_added(*, user: User, device: WebAuthnCredential, request=None) -> list[str] | None:
    """After django-otp-webauthn stored a new passkey: audited (by its number, never its key);
    returns new recovery codes when the person had none."""
    audit_record(kind=AuditEvent.Kind.PASSKEY_ADDED, user=user, request=request, device=device.pk)
    return recovery_codes_make(user=user, request=request) if not recovery_codes_left(user=user) else None


def passkey_rename(*, user: User, passkey_id: int, name: str) -> WebAuthnCredential:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationError("Give the passkey a name, such as the device it is on.")
    if len(name) > 64:
        raise ValidationError("Use at most 64 characters for the name.")
    device = WebAuthnCredential.objects.filter(user=user, pk=passkey_id).first()
    if device is None:
        raise ValidationError("That passkey is not one of yours.")
    device.name = name
    device.save(update_fields=["name"])
    return device


@transaction.atomic
def passkey_remove(*, user: User, passkey_id: int, request=None) -> bool:
    deleted, _ = WebAuthnCredential.objects.filter(user=user, pk=passkey_id).delete()
    if deleted:
        audit_record(kind=AuditEvent.Kind.PASSKEY_REMOVED, user=user, request=request, device=passkey_id)
        _forget_recovery_codes_without_factor(user=user)
    return bool(deleted)


# --- Admins -----------------------------------------------------------------


@transaction.atomic
def second_factors_reset(*, user: User, by: User | None = None, request=None) -> int:
    """An admin removes all of a person's second factors (a lost phone); the person is told by email."""
    removed = 0
    for model in (WebAuthnCredential, TOTPDevice, StaticDevice):
        deleted, _ = model.objects.filter(user=user).delete()
        removed += deleted
    audit_record(
        kind=AuditEvent.Kind.SECOND_FACTORS_RESET,
        user=user,
        request=request,
        admin=getattr(by, "email", ""),
    )
    context = {"user": user, "site_url": settings.SITE_URL}
    transaction.on_commit(
        lambda: mail_send(
            to=user.email,
            subject="Your Taskgate second factors were reset",
            template="accounts/email/second_factors_reset.txt",
            context=context,
            user=user,
        )
    )
    return removed
