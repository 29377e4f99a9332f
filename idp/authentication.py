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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings

from idp.models import AuthenticationContext
from idp.token_rows import grant_row, refresh_token_row

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


def authentication_link_code(*, code: str, user, credential: dict | None) -> None:
    """Remember, for the authorization code just issued, the login that approved it."""
    if not credential or user is None:
        return
    AuthenticationContext.objects.create(
        key=AuthenticationContext.code_key(code),
        user=user,
        auth_time=datetime.fromtimestamp(credential["auth_time"], tz=UTC),
        amr=credential["amr"],
    )


def authentication_link_id_token(*, jti: str, authentication: Authentication, user) -> None:
    """One INSERT: the jti is new (DOT makes a random one for each ID token)."""
    AuthenticationContext.objects.bulk_create(
        [
            AuthenticationContext(
                key=AuthenticationContext.jti_key(jti),
                id_token_jti=jti,
                user=user,
                auth_time=authentication.auth_time,
                amr=authentication.amr,
            )
        ],
        ignore_conflicts=True,
    )


def _of(row: AuthenticationContext | None) -> Authentication | None:
    return Authentication(auth_time=row.auth_time, amr=list(row.amr)) if row is not None else None


def authentication_for_token_request(request) -> Authentication | None:
    """At the token endpoint: the login behind the code being exchanged, or behind the tokens
    being refreshed (through the ID token issued with them), read with the code's or the
    refresh token's row (idp.token_rows): no statement of its own."""
    if getattr(request, "grant_type", None) == "authorization_code":
        row = grant_row(request, getattr(request, "code", None))
    elif getattr(request, "grant_type", None) == "refresh_token":
        row = refresh_token_row(request, getattr(request, "refresh_token", None))
    else:
        return None
    auth_time = getattr(row, "login_auth_time", None)
    return Authentication(auth_time=auth_time, amr=list(row.login_amr or [])) if auth_time else None


def authentication_for_access_token_id(token_id: int) -> Authentication | None:
    """At userinfo, where idp.bearer hands over the access token's id (its Grant). One statement."""
    jtis = get_access_token_model().objects.filter(pk=token_id, id_token__isnull=False).values("id_token__jti")
    return _of(AuthenticationContext.objects.filter(id_token_jti__in=jtis).first())


def authentication_contexts_clear() -> int:
    """Forget logins older than a refresh token lives (`clear_expired`): no token from them is left.

    Each refresh copies the login to the new ID token, so a chain of refreshes keeps it.
    """
    cutoff = timezone.now() - timedelta(seconds=oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS)
    deleted, _ = AuthenticationContext.objects.filter(created__lt=cutoff).delete()
    return deleted
