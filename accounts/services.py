"""Writes for accounts: sign-up, email verification, profile, upstream logins."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import ExternalIdentity, User
from accounts.upstream_errors import UpstreamLoginError
from idp.audit import AuditEvent, audit_record

logger = logging.getLogger(__name__)

EMAIL_TAKEN = "An account already uses this email address. Log in, or reset your password if you have forgotten it."
_VERIFICATION_SALT = "accounts.email-verification"


@transaction.atomic
def user_sign_up(*, email: str, name: str, password: str, request=None) -> User:
    """Create an account with a password; its email is unverified until the link we send is opened.

    Raises ValidationError (keyed "email", "name" or "password"), with
    nothing written, on a bad or taken email, an empty name, or a password
    that Django's validators refuse. An email already taken is said plainly:
    signing up logs the person in at once, which would tell anyone trying an
    address whether it was free, so hiding it here would protect nothing and
    only confuse the person who forgot their account.
    """
    email = _clean_email(email, field="email")
    name = _clean_name(name)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": [EMAIL_TAKEN]}, code="email_taken")
    # One name field, kept whole in first_name (names do not all split into
    # first and last); display_name and the `name` claim read it from there.
    user = User(username=_available_username({}, email), email=email, first_name=name, email_verified=False)
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same email signed up a moment ago
        raise ValidationError({"email": [EMAIL_TAKEN]}, code="email_taken") from None
    audit_record(kind=AuditEvent.Kind.SIGNED_UP, user=user, request=request)
    transaction.on_commit(lambda: email_verification_send(user=user))
    return user


def _clean_name(name: str) -> str:
    """A person's name as we keep it (spaces folded), or ValidationError keyed "name"."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": ["Enter your name: apps you allow may show it."]})
    if len(name) > User._meta.get_field("first_name").max_length:
        raise ValidationError({"name": ["Use at most 150 characters for your name."]})
    return name


def _clean_email(email: str, *, field: str) -> str:
    """An address as we keep it (its domain lower-cased), or ValidationError keyed `field`."""
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({field: ["Enter an email address such as name@example.com."]}) from None
    return email


def _email_digest(email: str) -> str:
    # The address itself stays out of the link, which mail servers and proxies may log.
    return hashlib.sha256(email.lower().encode()).hexdigest()[:32]


def email_verification_token(*, user: User) -> str:
    """A signed, timestamped token naming the person and a digest of the address it proves:
    changing the email makes earlier links invalid."""
    return signing.dumps({"sub": str(user.sub), "email": _email_digest(user.email)}, salt=_VERIFICATION_SALT)


def email_verification_send(*, user: User) -> bool:
    """Mail the person a link that verifies their address. A mail server that fails is
    logged, not raised: the person can ask again from their account page."""
    link = settings.SITE_URL + reverse("verify_email", args=[email_verification_token(user=user)])
    context = {
        "user": user,
        "link": link,
        "days": settings.EMAIL_VERIFICATION_MAX_AGE.days,
        "site_url": settings.SITE_URL,
    }
    return mail_send(
        to=user.email,
        subject="Confirm your email address for Taskgate",
        template="accounts/email/verify_email.txt",
        context=context,
        user=user,
        what="the verification email",
    )


def _emailed_link(token: str, *, salt: str, expired: str, invalid: str) -> tuple[dict, User | None]:
    """The signed data of a link we emailed, and the active person it names (None if none);
    ValidationError with `expired` or `invalid` when its signature says so."""
    try:
        data = signing.loads(token, salt=salt, max_age=settings.EMAIL_VERIFICATION_MAX_AGE.total_seconds())
    except signing.SignatureExpired:
        raise ValidationError(expired, code="expired") from None
    except signing.BadSignature:
        raise ValidationError(invalid, code="invalid") from None
    if not isinstance(data, dict):
        return {}, None
    return data, User.objects.filter(sub=data.get("sub"), is_active=True).first()


def email_verification_check(*, token: str) -> User:
    """The person a verification link is for, or ValidationError with a sentence saying what to do."""
    data, user = _emailed_link(
        token,
        salt=_VERIFICATION_SALT,
        expired="This link has expired. Log in and ask for a new one on your account page.",
        invalid="This link is not valid. Check that you opened all of it, or ask for a new one on your account page.",
    )
    if user is None or _email_digest(user.email) != data.get("email"):
        raise ValidationError(
            "This link is for an address that is no longer on an account here. Ask for a new one on your account page.",
            code="stale",
        )
    return user


@transaction.atomic
def email_verify(*, token: str, request=None) -> User:
    """Mark the address of a verification link as verified (again is harmless). Raises as email_verification_check."""
    user = email_verification_check(token=token)
    if not user.email_verified:
        User.objects.filter(pk=user.pk).update(email_verified=True)
        user.email_verified = True
        audit_record(kind=AuditEvent.Kind.EMAIL_VERIFIED, user=user, request=request)
    return user


_EMAIL_CHANGE_SALT = "accounts.email-change"


@transaction.atomic
def email_change_request(*, user: User, new_email: str, password: str | None = None, request=None) -> None:
    """Ask to change the person's login email. Nothing changes until the link sent to the new address is opened.

    A person with a password gives it again (through the login backends, so
    that guesses count towards the lockout): a browser left logged in must
    not be enough to take the account. Raises ValidationError (keyed
    "new_email" or "password") with nothing written.
    """
    if user.has_usable_password():
        if not password or authenticate(request, username=user.email, password=password) != user:
            raise ValidationError({"password": ["That is not your password."]})
    email = _clean_email(new_email, field="new_email")
    if email.lower() == user.email.lower():
        raise ValidationError({"new_email": ["That is already your email address."]})
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise ValidationError({"new_email": ["An account already uses this email address."]})
    User.objects.filter(pk=user.pk).update(pending_email=email)
    user.pending_email = email
    transaction.on_commit(lambda: _email_change_send(user=user))


def email_change_token(*, user: User) -> str:
    """A signed, timestamped token naming the person, their address and the new one (as digests):
    a later request or change makes earlier links invalid."""
    return signing.dumps(
        {"sub": str(user.sub), "from": _email_digest(user.email), "to": _email_digest(user.pending_email)},
        salt=_EMAIL_CHANGE_SALT,
    )


def _email_change_send(*, user: User) -> bool:
    link = settings.SITE_URL + reverse("email_change_confirm", args=[email_change_token(user=user)])
    days = settings.EMAIL_VERIFICATION_MAX_AGE.days
    context = {"user": user, "link": link, "days": days, "site_url": settings.SITE_URL}
    return mail_send(
        to=user.pending_email,
        subject="Confirm your new email address for Taskgate",
        template="accounts/email/change_email.txt",
        context=context,
        user=user,
    )


def mail_send(*, to: str, subject: str, template: str, context: dict, user: User, what: str = "") -> bool:
    """Send one mail; a mail server that fails is logged (as `what`, else the subject), not raised."""
    try:
        send_mail(subject=subject, message=render_to_string(template, context), from_email=None, recipient_list=[to])
    except OSError:
        logger.exception("Could not send %s to user %s", what or repr(subject), user.sub)
        return False
    return True


def email_change_check(*, token: str) -> User:
    """The person an email-change link is for, or ValidationError with a sentence saying what to do."""
    data, user = _emailed_link(
        token,
        salt=_EMAIL_CHANGE_SALT,
        expired="This link has expired. Ask for the change again on your account page.",
        invalid="This link is not valid. Check that you opened all of it.",
    )
    if (
        user is None
        or not user.pending_email
        or _email_digest(user.email) != data.get("from")
        or _email_digest(user.pending_email) != data.get("to")
    ):
        raise ValidationError("This link is for a change that is no longer asked for. Ask again on your account page.")
    return user


@transaction.atomic
def email_change_confirm(*, token: str, request=None) -> User:
    """Make the new address the login email, confirmed by the link; the old address is told."""
    user = email_change_check(token=token)
    old_email, new_email = user.email, user.pending_email
    try:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(email=new_email, email_verified=True, pending_email="")
    except IntegrityError:
        raise ValidationError("An account already uses this email address now, so it cannot be yours here.") from None
    user.email, user.email_verified, user.pending_email = new_email, True, ""
    audit_record(kind=AuditEvent.Kind.EMAIL_CHANGED, user=user, request=request)
    context = {"user": user, "new_email": new_email, "site_url": settings.SITE_URL}
    transaction.on_commit(
        lambda: mail_send(
            to=old_email,
            subject="Your Taskgate email address was changed",
            template="accounts/email/email_changed.txt",
            context=context,
            user=user,
        )
    )
    return user


@transaction.atomic
def user_update_profile(*, user: User, name: str) -> User:
    """Change the person's name (the email is their login and is not changed here)."""
    name = _clean_name(name)
    user.first_name, user.last_name = name, ""
    user.save(update_fields=["first_name", "last_name"])
    return user


@transaction.atomic
def external_identity_login(
    *,
    issuer: str,
    claims: Mapping[str, Any],
    create_users: bool,
    link_by_verified_email: bool,
) -> User:
    """The local user an upstream login stands for, linking or creating one if allowed.

    `claims` are the upstream's, already verified (accounts.upstream). The
    account is found by (issuer, `sub`) only. A first login links to the
    local user with the same email when the upstream says `email_verified`,
    the local account has verified it too, and `link_by_verified_email` is
    on; otherwise it creates a user, if `create_users` is on.

    Raises UpstreamLoginError, with nothing created or linked, when the login
    cannot be let in.
    """
    subject = claims["sub"]
    identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        if not identity.user.is_active:
            raise UpstreamLoginError("inactive", detail=f"user {identity.user.sub} is inactive")
        identity.last_login = timezone.now()
        identity.save(update_fields=["last_login"])
        return identity.user

    email = _usable_email(claims.get("email"))
    if email is None:
        raise UpstreamLoginError("email_missing", detail="no valid email claim")
    upstream_verified = _is_true(claims.get("email_verified"))
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        if not link_by_verified_email:
            raise UpstreamLoginError(
                "email_taken", detail=f"user {existing.sub} has the email; linking by email is off", email=email
            )
        if not upstream_verified:
            raise UpstreamLoginError(
                "email_unverified", detail=f"upstream email_verified is not true; user {existing.sub}", email=email
            )
        # Otherwise whoever registered the address here first, without
        # proving it, would share the account of its real owner.
        if not existing.email_verified:
            raise UpstreamLoginError(
                "local_email_unverified", detail=f"user {existing.sub} has not verified the email", email=email
            )
        if not existing.is_active:
            raise UpstreamLoginError("inactive", detail=f"user {existing.sub} is inactive")
        ExternalIdentity.objects.create(user=existing, issuer=issuer, subject=subject, last_login=timezone.now())
        return existing

    if not create_users:
        raise UpstreamLoginError("create_disabled", detail="no linked user and UPSTREAM_OIDC_CREATE_USERS=0")
    try:
        # A savepoint: two first logins of one account at the same instant both
        # get here; the second's insert waits for the first, then fails on the
        # unique email or (issuer, sub), and finds the account the first made.
        with transaction.atomic():
            # No usable password: a brokered account logs in through the upstream, and
            # Django's password reset ignores it, so nobody can take it over by mail.
            user = User.objects.create_user(
                username=_available_username(claims, email),
                email=email,
                password=None,
                first_name=_text(claims.get("given_name")),
                last_name=_text(claims.get("family_name")),
                email_verified=upstream_verified,
            )
            ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject, last_login=timezone.now())
    except IntegrityError:
        identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is None or not identity.user.is_active:
            raise UpstreamLoginError(
                "concurrent_first_login", detail=f"a concurrent first login of {subject!r} made another account"
            ) from None
        return identity.user
    return user


def _is_true(value: Any) -> bool:
    # Some providers (AWS Cognito among them) send booleans as strings.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _usable_email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    email = User.objects.normalize_email(value)
    try:
        validate_email(email)
    except ValidationError:
        return None
    return email


def _text(value: Any, limit: int = 150) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _available_username(claims: Mapping[str, Any], email: str) -> str:
    """A unique username from `preferred_username` or the email's local part (usernames are only labels here)."""
    preferred = claims.get("preferred_username")
    base = preferred if isinstance(preferred, str) and preferred.strip() else email.partition("@")[0]
    base = re.sub(r"[^\w.@+-]", "", base)[:140] or "user"
    username = base
    while User.objects.filter(username=username).exists():
        username = f"{base}-{secrets.token_hex(3)}"
    return username
