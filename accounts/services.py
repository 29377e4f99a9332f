"""Writes for accounts."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import ExternalIdentity, User
from accounts.upstream import UpstreamLoginError


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
