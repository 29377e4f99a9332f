"""The token endpoint's reads (idp.token_rows), compiled once per thread (config.precompiled), give
exactly what the ORM's own `select_related` query gives: the same row, its related rows and the
login behind it, field by field."""

from __future__ import annotations

from http import HTTPStatus
from types import SimpleNamespace

from django.db.models import Exists, F, OuterRef
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from idp.models import AuthenticationContext, RedeemedCode
from idp.token_rows import _login, checksum, grant_row, refresh_token_row
from tests.fixtures import password_step, pkce_pair
from tests.oauth_flow import exchange, obtain_code


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def same_row(ours, orm, related: tuple[str, ...], annotations: tuple[str, ...]) -> None:
    assert type(ours) is type(orm)
    assert fields(ours) == fields(orm)
    assert not ours._state.adding
    assert ours._state.db == orm._state.db
    for name in related:
        theirs = getattr(orm, name)
        if theirs is None:
            assert getattr(ours, name) is None
        else:
            assert fields(getattr(ours, name)) == fields(theirs)
    for name in annotations:
        assert getattr(ours, name) == getattr(orm, name)
        assert type(getattr(ours, name)) is type(getattr(orm, name))


def orm_grant(code):
    redeemed = RedeemedCode.objects.filter(code_checksum=checksum(code), application=OuterRef("application"))
    return (
        get_grant_model()
        .objects.select_related("application", "user")
        .annotate(redeemed=Exists(redeemed), **_login(key=AuthenticationContext.code_key(code)))
        .get(code=code)
    )


def orm_refresh_token(raw):
    return (
        get_refresh_token_model()
        .objects.select_related("application", "user", "access_token")
        .annotate(**_login(id_token_jti=OuterRef("access_token__id_token__jti")))
        .filter(token_checksum=checksum(raw))
        .order_by(F("revoked").desc(nulls_first=True))
        .first()
    )


def test_a_code_and_its_refresh_token_read_as_the_orm_reads_them_before_and_after_use(
    client, user, password, application, django_assert_num_queries
):
    password_step(client, user, password)
    verifier, challenge = pkce_pair()
    code = obtain_code(client, application, challenge=challenge)

    with django_assert_num_queries(1):
        grant = grant_row(SimpleNamespace(), code)
    same_row(grant, orm_grant(code), ("application", "user"), ("redeemed", "login_auth_time", "login_amr"))
    assert grant.redeemed is False
    assert grant.login_amr == ["pwd"]

    tokens = exchange(client, application, code, verifier).json()
    used = grant_row(SimpleNamespace(), code)
    assert used.redeemed is True
    same_row(used, orm_grant(code), ("application", "user"), ("redeemed", "login_auth_time", "login_amr"))

    with django_assert_num_queries(1):
        refresh = refresh_token_row(SimpleNamespace(), tokens["refresh_token"])
    expected = orm_refresh_token(tokens["refresh_token"])
    same_row(refresh, expected, ("application", "user", "access_token"), ("login_auth_time", "login_amr"))
    assert refresh.login_amr == ["pwd"]
    assert refresh.access_token.pk == expected.access_token_id


def test_a_refresh_token_without_its_access_token_or_login_reads_as_the_orm_reads_it(logged_in_client, application):
    """The access token's LEFT JOIN that finds nothing gives None, as select_related does."""
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    raw = exchange(logged_in_client, application, code, verifier).json()["refresh_token"]
    get_access_token_model().objects.all().delete()

    refresh = refresh_token_row(SimpleNamespace(), raw)

    same_row(refresh, orm_refresh_token(raw), ("application", "user", "access_token"), ("login_amr",))
    assert refresh.access_token is None
    assert refresh.login_amr is None


def test_unknown_values_read_as_nothing(db):
    assert grant_row(SimpleNamespace(), "no-such-code") is None
    assert refresh_token_row(SimpleNamespace(), "no-such-token") is None


def test_a_refresh_read_twice_in_one_request_is_read_once(logged_in_client, application, django_assert_num_queries):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    response = exchange(logged_in_client, application, code, verifier)
    assert response.status_code == HTTPStatus.OK
    request = SimpleNamespace()

    with django_assert_num_queries(1):
        first = refresh_token_row(request, response.json()["refresh_token"])
        again = refresh_token_row(request, response.json()["refresh_token"])

    assert first is again
