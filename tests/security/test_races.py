"""Races on a live server with several workers: one refresh token or one code, many requests at once.

RFC 6749 §10.4 / RFC 9700 §4.14.2 (a refresh token is used once: rotation),
RFC 6749 §4.1.2 (a code "MUST NOT be used more than once"). Concurrent
duplicates within the same instant are a client's retries, not proof of
theft: exactly one request rotates, the others get `invalid_grant`, and
the winner's new pair stays valid. A refresh token reused after its
rotation committed still revokes the family (tests/idp/test_token.py).
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from datetime import timedelta
from http import HTTPStatus

import pytest
import requests

from tests.concurrency import fire
from tests.fixtures import pkce_pair

pytestmark = [pytest.mark.live, pytest.mark.load]

CONCURRENT_REFRESHES = 20
CONCURRENT_EXCHANGES = 10


@pytest.fixture(scope="module")
def workers_server(django_db_setup, django_db_blocker, workdir):
    from tests.live import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer(workers=4, log_path=workdir / "live-server-races.log").start(timeout=60)
    yield server
    server.stop()


def issue_refresh_token(*, user, application, scope: str) -> str:
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model, set_token_value

    access = get_access_token_model()(
        user=user, application=application, scope=scope, expires=timezone.now() + timedelta(hours=1)
    )
    set_token_value(access, secrets.token_urlsafe(30))
    access.save()
    raw = secrets.token_urlsafe(30)
    refresh = get_refresh_token_model()(
        user=user, application=application, access_token=access, token_family=uuid.uuid4()
    )
    set_token_value(refresh, raw)
    refresh.save()
    return raw


def statuses(results) -> Counter:
    return Counter(result.status_code if isinstance(result, requests.Response) else repr(result) for result in results)


def test_concurrent_refreshes_of_one_refresh_token_give_exactly_one_new_pair(
    workers_server, transactional_db, user, application
):
    raw = issue_refresh_token(user=user, application=application, scope="openid tasks:read")
    auth = (application.client_id, application.client_secret_plain)

    results = fire(
        CONCURRENT_REFRESHES,
        lambda: requests.post(
            f"{workers_server.url}/idp/token",
            data={"grant_type": "refresh_token", "refresh_token": raw},
            auth=auth,
            timeout=60,
        ),
    )

    counts = statuses(results)
    assert counts == {HTTPStatus.OK: 1, HTTPStatus.BAD_REQUEST: CONCURRENT_REFRESHES - 1}, (
        counts,
        workers_server.log_tail(),
    )
    assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code == HTTPStatus.BAD_REQUEST)
    winner = next(r.json() for r in results if r.status_code == HTTPStatus.OK)
    # The winner's pair stays valid: its access token works, its refresh token refreshes.
    me = requests.get(
        f"{workers_server.url}/api/tasks", headers={"Authorization": f"Bearer {winner['access_token']}"}, timeout=10
    )
    assert me.status_code == HTTPStatus.OK, (me.text, workers_server.log_tail(80))
    again = requests.post(
        f"{workers_server.url}/idp/token",
        data={"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
        auth=auth,
        timeout=30,
    )
    assert again.status_code == HTTPStatus.OK, again.text


def test_concurrent_exchanges_of_one_code_give_exactly_one_success(workers_server, transactional_db, user, application):
    from datetime import timedelta as delta

    from django.utils import timezone
    from oauth2_provider.models import get_grant_model

    verifier, challenge = pkce_pair()
    code = secrets.token_urlsafe(30)
    get_grant_model().objects.create(
        user=user,
        application=application,
        code=code,
        expires=timezone.now() + delta(seconds=60),
        redirect_uri=application.redirect_uri_list()[0],
        scope="openid tasks:read",
        code_challenge=challenge,
        code_challenge_method="S256",
    )

    results = fire(
        CONCURRENT_EXCHANGES,
        lambda: requests.post(
            f"{workers_server.url}/idp/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": application.redirect_uri_list()[0],
                "code_verifier": verifier,
            },
            auth=(application.client_id, application.client_secret_plain),
            timeout=60,
        ),
    )

    counts = statuses(results)
    assert counts[HTTPStatus.OK] == 1, (counts, workers_server.log_tail())
    assert counts[HTTPStatus.BAD_REQUEST] == CONCURRENT_EXCHANGES - 1, (counts, workers_server.log_tail())
