"""How and when a person logged in, carried from the login to the tokens (`amr`, `auth_time`).

OpenID Connect Core §2 (`auth_time`, `amr`) and RFC 8176 (the `amr`
values). The login is known in the browser's session (accounts.second_factor
keeps it there); the authorization endpoint hands it to oauthlib as a
credential of the request (ConsentView), the validator copies it to the
authorization code it issues, and each ID token issued from that code (or a
refresh of its tokens) gets a copy keyed by its `jti`, which access tokens
point to (AccessToken.id_token), for userinfo.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings

from idp.models import AuthenticationContext

# Where a browser session keeps its login: {"amr": [...], "auth_time": <seconds>} (written by accounts.second_factor).
SESSION_KEY = "accounts.authentication"
# The name of the oauthlib request attribute (an authorization credential) that carries it.
REQUEST_ATTRIBUTE = "taskgate_authentication"


@dataclass(frozen=True)
class Authentication:
    auth_time: datetime
    amr: list[str]


def from_session(value) -> dict | None:
    """The session's record, as a credential oauthlib can carry (plain JSON types)."""
    if not isinstance(value, dict) or not isinstance(value.get("auth_time"), int):
        return None
    return {"auth_time": value["auth_time"], "amr": [str(method) for method in value.get("amr") or []]}


def _code_key(code: str) -> str:
    return "code:" + hashlib.sha256(code.encode()).hexdigest()


def authentication_link_code(*, code: str, user, credential: dict | None) -> None:
    """Remember, for the authorization code just issued, the login that approved it."""
    if not credential or user is None:
        return
    AuthenticationContext.objects.create(
        key=_code_key(code),
        user=user,
        auth_time=datetime.fromtimestamp(credential["auth_time"], tz=UTC),
        amr=credential["amr"],
    )


def authentication_link_id_token(*, jti: str, authentication: Authentication, user) -> None:
    AuthenticationContext.objects.get_or_create(
        key=f"jti:{jti}",
        defaults={"user": user, "auth_time": authentication.auth_time, "amr": authentication.amr},
    )


def _of(row: AuthenticationContext | None) -> Authentication | None:
    return Authentication(auth_time=row.auth_time, amr=list(row.amr)) if row is not None else None


def authentication_for_token_request(request) -> Authentication | None:
    """At the token endpoint: the login behind the code being exchanged, or behind the
    tokens being refreshed (through the ID token issued with them)."""
    code = getattr(request, "code", None)
    if getattr(request, "grant_type", None) == "authorization_code" and code:
        return _of(AuthenticationContext.objects.filter(key=_code_key(code)).first())
    refresh = getattr(request, "refresh_token_instance", None)
    access_token = getattr(refresh, "access_token", None) if refresh is not None else None
    return authentication_for_access_token(access_token)


def authentication_for_access_token_id(token_id: int) -> Authentication | None:
    """At userinfo, where idp.bearer hands over the access token's id (its Grant), not its row."""
    jti = get_access_token_model().objects.filter(pk=token_id).values_list("id_token__jti", flat=True).first()
    if jti is None:
        return None
    return _of(AuthenticationContext.objects.filter(key=f"jti:{jti}").first())


def authentication_for_access_token(access_token) -> Authentication | None:
    """At userinfo (and a refresh): through the ID token issued with the access token."""
    id_token = getattr(access_token, "id_token", None) if access_token is not None else None
    if id_token is None:
        return None
    return _of(AuthenticationContext.objects.filter(key=f"jti:{id_token.jti}").first())


def authentication_contexts_clear() -> int:
    """Forget logins older than a refresh token lives (`clear_expired`): no token from them is left.

    Each refresh copies the login to the new ID token, so a chain of refreshes keeps it.
    """
    cutoff = timezone.now() - timedelta(seconds=oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS)
    deleted, _ = AuthenticationContext.objects.filter(created__lt=cutoff).delete()
    return deleted
