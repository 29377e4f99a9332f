"""How the token endpoint stores what it issues: the statements it costs, and who wins a race.

RFC 6749 §4.1.2 and §6, RFC 9700 §4.14.2. The statement counts are those
Django logs, transaction control included (in a test, each transaction is a
savepoint of the test's own); benchmarks/README.md has the figures before and
after, and benchmarks/token_endpoint.py measures them outside a test.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from tests.fixtures import pkce_pair
from tests.oauth_flow import (
    TOKEN_REQUEST_STATEMENTS,
    at_most_statements_sent,
    basic,
    exchange,
    next_code,
    obtain_code,
)


def refresh(client, application, refresh_token: str):
    return client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        HTTP_AUTHORIZATION=basic(application),
    )


def userinfo_status(client, access_token: str) -> int:
    return client.get("/idp/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code


@pytest.fixture
def tokens(logged_in_client, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge, nonce="n-1")
    response = exchange(logged_in_client, application, code, verifier)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def counts() -> dict[str, int]:
    from oauth2_provider.models import get_access_token_model, get_id_token_model, get_refresh_token_model

    from idp.audit import AuditEvent
    from idp.models import RedeemedCode

    return {
        "access tokens": get_access_token_model().objects.count(),
        "live refresh tokens": get_refresh_token_model().objects.filter(revoked__isnull=True).count(),
        "id tokens": get_id_token_model().objects.count(),
        "redeemed codes": RedeemedCode.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


def test_a_refresh_sends_at_most_nine_statements(client, tokens, application):
    """RFC 6749 §6 with rotation: the token read once, the old one revoked, the new pair and ID token
    written, the audit event. The first refresh of a minute also notes the consent's last use."""
    first = refresh(client, application, tokens["refresh_token"]).json()

    with at_most_statements_sent(TOKEN_REQUEST_STATEMENTS):
        response = refresh(client, application, first["refresh_token"])

    assert response.status_code == HTTPStatus.OK, response.content
    assert {"access_token", "refresh_token", "id_token"} <= response.json().keys()


def test_a_code_exchange_sends_at_most_nine_statements(logged_in_client, client, tokens, application):
    """RFC 6749 §4.1.3: the code read once, recorded as redeemed, the pair and ID token written, the
    audit event. The app's first token of a minute also notes its last use (one UPDATE)."""
    verifier, challenge = pkce_pair()
    code = next_code(logged_in_client, application, challenge)

    with at_most_statements_sent(TOKEN_REQUEST_STATEMENTS):
        response = exchange(client, application, code, verifier)

    assert response.status_code == HTTPStatus.OK, response.content
    assert {"access_token", "refresh_token", "id_token"} <= response.json().keys()


def test_a_refresh_ends_the_access_token_it_replaces(client, tokens, application):
    """RFC 6749 §6: the new access token replaces the one issued with the refresh token presented."""
    assert userinfo_status(client, tokens["access_token"]) == HTTPStatus.OK

    refreshed = refresh(client, application, tokens["refresh_token"]).json()

    assert userinfo_status(client, tokens["access_token"]) == HTTPStatus.UNAUTHORIZED
    assert userinfo_status(client, refreshed["access_token"]) == HTTPStatus.OK


def test_a_refresh_that_loses_its_token_to_a_concurrent_one_is_refused_and_the_family_kept(
    client, tokens, application, monkeypatch
):
    """RFC 9700 §4.14.2: a refresh token is used once; a duplicate that arrived while the first was
    under way is a client's retry, not a theft: `invalid_grant`, and the winner's pair stays valid."""
    from idp.audit import AuditEvent
    from idp.oauth2_validators import TaskgateOAuth2Validator

    save_id_token = TaskgateOAuth2Validator._save_id_token
    winner = {}
    after_winner = {}
    under_way = []

    def a_concurrent_refresh_goes_first(self, jti, request, expires):
        # This request found the token active; another rotates it before this one writes.
        if not under_way:
            under_way.append(request)
            winner.update(refresh(Client(), application, tokens["refresh_token"]).json())
            after_winner.update(counts())
        return save_id_token(self, jti, request, expires)

    monkeypatch.setattr(TaskgateOAuth2Validator, "_save_id_token", a_concurrent_refresh_goes_first)

    response = refresh(client, application, tokens["refresh_token"])

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"
    assert counts() == after_winner
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.REFRESH_TOKEN_REUSED).exists()
    assert userinfo_status(client, winner["access_token"]) == HTTPStatus.OK
    assert refresh(client, application, winner["refresh_token"]).status_code == HTTPStatus.OK


def test_an_exchange_that_loses_its_code_to_a_concurrent_one_is_refused_and_writes_nothing(
    logged_in_client, client, application, monkeypatch
):
    """RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more than once." Of two
    exchanges under way at once, the one that records the code redeemed first wins; the other gets
    `invalid_grant`, stores no token and no ID token, and the winner's tokens are not revoked."""
    from idp.audit import AuditEvent
    from idp.oauth2_validators import TaskgateOAuth2Validator

    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge, nonce="n-2")
    save_id_token = TaskgateOAuth2Validator._save_id_token
    winner = {}
    after_winner = {}
    under_way = []

    def a_concurrent_exchange_goes_first(self, jti, request, expires):
        # This request found the code unused; another exchanges it before this one writes.
        if not under_way:
            under_way.append(request)
            winner.update(exchange(Client(), application, code, verifier).json())
            after_winner.update(counts())
        return save_id_token(self, jti, request, expires)

    monkeypatch.setattr(TaskgateOAuth2Validator, "_save_id_token", a_concurrent_exchange_goes_first)

    response = exchange(client, application, code, verifier)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"
    assert counts() == after_winner
    assert userinfo_status(client, winner["access_token"]) == HTTPStatus.OK
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.CODE_REPLAYED).exists()


def test_a_disabled_apps_refresh_token_is_refused(client, tokens, application):
    """RFC 6749 §5.2: the app's client authentication fails once an admin disabled it, although its
    application was read with the refresh token."""
    application.is_enabled = False
    application.save()

    response = refresh(client, application, tokens["refresh_token"])

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_client"


def test_a_code_presented_with_another_clients_credentials_is_refused_and_stays_usable(
    logged_in_client, client, application
):
    """RFC 6749 §4.1.3: the code must have been issued to the authenticated client. The grant's
    application is not taken for the client when the credentials name another."""
    from tests.factories import ApplicationFactory

    other = ApplicationFactory(redirect_uris=application.redirect_uris)
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)

    stolen = exchange(client, other, code, verifier)
    rightful = exchange(client, application, code, verifier)

    assert stolen.status_code == HTTPStatus.BAD_REQUEST
    assert stolen.json()["error"] == "invalid_grant"
    assert rightful.status_code == HTTPStatus.OK
