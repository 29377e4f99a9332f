"""The rows a token request works on, each read once per request and kept on oauthlib's request.

oauthlib asks the validator about the same authorization code or refresh
token several times in one token request (its scopes, nonce, PKCE challenge,
redirect URI, resource, owner); DOT answers each question with a query of its
own. These read the row once, with its application and owner, and keep it on
oauthlib's request (`request.grant_row`, `request.refresh_token_row`) for the
validator's later questions. Nothing here locks: which of two concurrent
requests may use a code or a refresh token is decided when the tokens are
stored (TaskgateOAuth2Validator._save_bearer_token).
"""

from __future__ import annotations

import functools
import hashlib

from django.db.models import Exists, F, OuterRef, Subquery
from oauth2_provider.models import get_grant_model, get_refresh_token_model

from config.precompiled import Precompiled, concrete_attnames, instance_from
from idp.models import AuthenticationContext, RedeemedCode

_UNREAD = object()


def checksum(value: str) -> str:
    """How DOT finds a token or code by its value: the SHA-256 it stores (RFC 9700 token storage)."""
    return hashlib.sha256(value.encode()).hexdigest()


def grant_row(request, code: str | None):
    """The authorization code's grant (with `application` and `user`), or None.

    `redeemed` says whether the code was exchanged already (RedeemedCode):
    its grant stays until it expires. `login_auth_time` and `login_amr`: the
    login that approved it (idp.authentication), read in the same statement.
    """
    memo = getattr(request, "grant_row", _UNREAD)
    if memo is not _UNREAD and memo[0] == code:
        return memo[1]
    row = None
    if code:
        found = _grant_query().rows(code, checksum(code), AuthenticationContext.code_key(code))
        if found:
            row, annotations = _with_related(found[0], get_grant_model(), ("application", "user"))
            row.redeemed, row.login_auth_time, row.login_amr = annotations
    request.grant_row = (code, row)
    return row


def refresh_token_row(request, raw: str | None):
    """The refresh token presented (with `application`, `user` and `access_token`), or None.

    Several rows may share a checksum (DOT's uniqueness is (checksum,
    revoked)): the unrevoked one first, else the one revoked last, as DOT reads it.
    `login_auth_time` and `login_amr`: the login behind the tokens, through
    the ID token issued with its access token, read in the same statement.
    """
    memo = getattr(request, "refresh_token_row", _UNREAD)
    if memo is not _UNREAD and memo[0] == raw:
        return memo[1]
    row = None
    if raw:
        found = _refresh_token_query().rows(checksum(raw))
        if found:
            row, annotations = _with_related(
                found[0], get_refresh_token_model(), ("application", "user", "access_token")
            )
            row.login_auth_time, row.login_amr = annotations
    request.refresh_token_row = (raw, row)
    return row


# Both reads run on every token request, and compiling them (three joined
# tables, one or two subqueries) was about a quarter of a refresh's CPU
# (benchmarks/README.md): each is compiled once per thread (config.precompiled).
# Each row is the token's columns, then each related row's, then the annotations.


def _columns(model, related: tuple[str, ...]) -> list[str]:
    columns = list(concrete_attnames(model))
    for name in related:
        columns += concrete_attnames(model._meta.get_field(name).related_model, prefix=name + "__")
    return columns


def _with_related(values: tuple, model, related: tuple[str, ...]) -> tuple:
    """The instance a row (_columns) describes, with each related instance attached as select_related
    would, and the row's values after those columns (the annotations)."""
    end = len(model._meta.concrete_fields)
    instance = instance_from(model, values[:end])
    for name in related:
        related_model = model._meta.get_field(name).related_model
        start, end = end, end + len(related_model._meta.concrete_fields)
        setattr(instance, name, instance_from(related_model, values[start:end]))
    return instance, values[end:]


@functools.cache
def _grant_query() -> Precompiled:
    Grant = get_grant_model()  # noqa: N806

    def build(code, code_checksum, login_key):
        redeemed = RedeemedCode.objects.filter(code_checksum=code_checksum, application=OuterRef("application"))
        return (
            Grant.objects.annotate(redeemed=Exists(redeemed), **_login(key=login_key))
            .filter(code=code)
            .values_list(*_columns(Grant, ("application", "user")), "redeemed", "login_auth_time", "login_amr")[:1]
        )

    return Precompiled(Grant, build, ("precompiled:code", "precompiled:checksum", "precompiled:login"))


@functools.cache
def _refresh_token_query() -> Precompiled:
    RefreshToken = get_refresh_token_model()  # noqa: N806

    def build(token_checksum):
        return (
            RefreshToken.objects.annotate(**_login(id_token_jti=OuterRef("access_token__id_token__jti")))
            .filter(token_checksum=token_checksum)
            .order_by(F("revoked").desc(nulls_first=True))
            .values_list(
                *_columns(RefreshToken, ("application", "user", "access_token")), "login_auth_time", "login_amr"
            )[:1]
        )

    return Precompiled(RefreshToken, build, ("precompiled:checksum",))


def _login(**lookup) -> dict[str, Subquery]:
    """The login (OpenID Connect `auth_time`, `amr`) that `lookup` finds, as two columns of the row's own
    statement: the token endpoint's budget counts statements (tests/idp/test_token_storage.py)."""
    found = AuthenticationContext.objects.filter(**lookup)
    return {
        "login_auth_time": Subquery(found.values("auth_time")[:1]),
        "login_amr": Subquery(found.values("amr")[:1]),
    }
