"""The verified-token cache (idp.token_cache): served only while told of every token's end.

These run in one process, delivering the notices that PostgreSQL's triggers
would send; tests/e2e/test_token_cache_instances.py revokes on one live
instance and watches another.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from idp import bearer, token_cache
from idp.bearer import EXPIRED, UNKNOWN, bearer_verify, bearer_verify_from_memory, checksum
from idp.models import Application, Consent
from idp.services.consents import consent_mark_used
from tests.fixtures import issue_access_token
from tests.oauth_flow import basic

API = f"{settings.SITE_URL}/api"


@pytest.fixture
def raw(user, application) -> str:
    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read tasks:write")
    return raw


def cached(raw: str) -> bool:
    return token_cache.cache.get(checksum(raw)) is not None


def test_a_verified_token_is_kept_and_answered_without_the_database(token_cache_live, raw, django_assert_num_queries):
    bearer_verify(raw_token=raw, resource=API)

    with django_assert_num_queries(0):
        verdict = bearer_verify(raw_token=raw, resource=API)

    assert verdict.grant is not None
    assert cached(raw)


def test_a_refused_token_is_never_kept(token_cache_live, user, application):
    expired, _ = issue_access_token(user=user, application=application, scope="tasks:read", expires_in=-1)

    assert bearer_verify(raw_token=expired, resource=API).problem == EXPIRED
    assert bearer_verify(raw_token="not-a-token", resource=API).problem == UNKNOWN
    assert len(token_cache_live) == 0


def test_a_miss_that_read_before_a_revocation_is_not_stored_after_its_notice(token_cache_live, raw, monkeypatch):
    """The race: the read sees the token still valid, the revocation commits and its notice is
    handled, then the read's answer would be stored. The sequence number taken before the read
    keeps it out, so the next use reads the database and is refused."""
    read_from_the_database = bearer._load

    def read_then_revoked(key):
        verdict = read_from_the_database(key)
        from oauth2_provider.models import get_access_token_model

        get_access_token_model().objects.filter(token_checksum=key).delete()
        token_cache_live.forget(f"t:{verdict.grant.token_id}")
        return verdict

    monkeypatch.setattr(bearer, "_load", read_then_revoked)
    racing = bearer_verify(raw_token=raw, resource=API)
    monkeypatch.setattr(bearer, "_load", read_from_the_database)

    assert racing.grant is not None, "valid when it was read: this one request goes through"
    assert not cached(raw)
    assert bearer_verify(raw_token=raw, resource=API).problem == UNKNOWN


def test_a_put_with_a_sequence_taken_before_any_notice_is_refused(token_cache_live, raw):
    grant = bearer._load(checksum(raw)).grant
    before = token_cache_live.sequence()

    token_cache_live.forget("a:999999")

    assert token_cache_live.put(checksum(raw), grant, sequence=before) is False
    assert token_cache_live.put(checksum(raw), grant, sequence=token_cache_live.sequence()) is True


@pytest.mark.parametrize(
    "notice",
    [
        lambda token, user, app: f"t:{token.pk}",
        lambda token, user, app: f"u:1,{user.pk}",
        lambda token, user, app: f"a:{app.pk}",
        lambda token, user, app: "*",
        lambda token, user, app: "garbled:x,y",
    ],
    ids=["its-token", "its-person", "its-app", "everything", "unreadable"],
)
def test_a_notice_naming_the_token_its_person_or_its_app_drops_it(
    token_cache_live, user, other_user, application, notice
):
    raw, token = issue_access_token(user=user, application=application, scope="tasks:read")
    others, _ = issue_access_token(user=other_user, application=application, scope="tasks:read")
    bearer_verify(raw_token=raw, resource=API)
    bearer_verify(raw_token=others, resource=API)

    token_cache_live.forget(notice(token, user, application))

    assert not cached(raw)


def test_the_answer_from_memory_is_bearer_verifys_while_cached_and_none_once_a_notice_drops_it(
    token_cache_live, user, application, django_assert_num_queries
):
    """For /mcp's event loop (tasks.mcp_auth): no database, ever; None sends the caller to bearer_verify."""
    raw, token = issue_access_token(user=user, application=application, scope="tasks:read", resource=[API])

    with django_assert_num_queries(0):
        assert bearer_verify_from_memory(raw_token=raw, resource=API) is None
    bearer_verify(raw_token=raw, resource=API)
    with django_assert_num_queries(0):
        at_api = bearer_verify_from_memory(raw_token=raw, resource=API)
        elsewhere = bearer_verify_from_memory(raw_token=raw, resource=f"{settings.SITE_URL}/mcp")
    assert at_api.grant.token_id == bearer_verify(raw_token=raw, resource=API).grant.token_id
    assert elsewhere.grant is None
    assert "RFC 8707" in elsewhere.problem

    token_cache_live.forget(f"t:{token.pk}")

    assert bearer_verify_from_memory(raw_token=raw, resource=API) is None
    assert bearer_verify(raw_token=raw, resource=API).grant is not None, "still valid: only forgotten"


def test_a_notice_about_someone_else_keeps_the_entry(token_cache_live, raw, other_user):
    bearer_verify(raw_token=raw, resource=API)

    token_cache_live.forget(f"u:{other_user.pk}")

    assert cached(raw)


def test_nothing_is_served_or_kept_while_the_process_is_not_listening(raw, django_assert_num_queries):
    """Fail closed: not listening (SQLite, not yet connected, or reconnecting) reads the database each time."""
    token_cache.cache.go_dark()

    bearer_verify(raw_token=raw, resource=API)

    assert not cached(raw)
    with django_assert_num_queries(1):
        bearer_verify(raw_token=raw, resource=API)


def test_a_reconnection_starts_with_an_empty_cache(token_cache_live, raw):
    """Notices sent while the connection was down are lost: nothing kept before it may be served."""
    bearer_verify(raw_token=raw, resource=API)

    token_cache_live.go_dark()
    token_cache_live.go_live(heard_for=3600)

    assert len(token_cache_live) == 0


def test_a_listener_not_heard_from_stops_the_cache_serving(token_cache_live, raw, monkeypatch):
    bearer_verify(raw_token=raw, resource=API)
    token_cache_live.heard(heard_for=15)
    later = token_cache.time.monotonic() + 16

    monkeypatch.setattr(token_cache.time, "monotonic", lambda: later)

    assert not cached(raw)
    assert (
        token_cache_live.put(checksum(raw), bearer._load(checksum(raw)).grant, sequence=token_cache_live.sequence())
        is False
    )


def test_an_entry_expires_on_its_own_after_idp_token_cache_seconds(token_cache_live, raw, monkeypatch):
    bearer_verify(raw_token=raw, resource=API)
    later = token_cache.time.monotonic() + settings.IDP_TOKEN_CACHE_SECONDS

    monkeypatch.setattr(token_cache.time, "monotonic", lambda: later)
    token_cache_live.heard(heard_for=3600)

    assert not cached(raw)


def test_an_entry_never_outlives_its_token(token_cache_live, user, application):
    """RFC 6749 §1.4: an access token is refused once expired, cached or not."""
    raw, token = issue_access_token(user=user, application=application, scope="tasks:read")
    bearer_verify(raw_token=raw, resource=API)
    grant = token_cache_live.get(checksum(raw))
    expired = bearer.Grant(**{**grant.__dict__, "expires": timezone.now() - timedelta(seconds=1)})
    token_cache_live.put(checksum(raw), expired, sequence=token_cache_live.sequence())

    assert bearer_verify(raw_token=raw, resource=API).problem == EXPIRED


def test_the_cache_is_off_when_idp_token_cache_seconds_is_0(token_cache_live, raw, settings):
    settings.IDP_TOKEN_CACHE_SECONDS = 0

    bearer_verify(raw_token=raw, resource=API)

    assert not cached(raw)
    assert token_cache.listen() is False


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite only")
def test_on_sqlite_no_process_listens_so_the_cache_stays_off():
    assert token_cache.listen() is False


# --- Statement counts ----------------------------------------------------------------


def test_a_cached_api_request_makes_at_most_2_statements(
    transactional_db, client, token_cache_live, raw, django_assert_max_num_queries
):
    """The token from the cache, the consent's "last used" noted once a minute: the task query is left.

    Outside a test's transaction, as in production: inside one, the request's own transaction
    (ATOMIC_REQUESTS) would add two savepoint statements."""
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/tasks", headers=headers).status_code == HTTPStatus.OK

    with django_assert_max_num_queries(2):
        response = client.get("/api/tasks", headers=headers)

    assert response.status_code == HTTPStatus.OK


def test_introspection_of_a_cached_token_makes_at_most_2_statements(
    transactional_db, client, token_cache_live, raw, application, django_assert_max_num_queries
):
    """RFC 7662 §2.1: the client authenticates (oauthlib, through the validator), the token comes from the cache."""
    assert client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()["active"]

    with django_assert_max_num_queries(2):
        response = client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application))

    assert response.json()["active"] is True


def test_a_client_authenticates_from_this_processs_copy_of_its_app_until_a_notice_about_the_app(
    token_cache_live, client, raw, application, django_assert_num_queries
):
    """RFC 7662 §2.1 client authentication, with the app kept in memory (TaskgateOAuth2Validator.
    _load_application over DOT's): no statement at all while kept; a change to the app (here
    disabled, as the admin would) ends the copy with the database's notice, and DOT's own
    checks then refuse the client. Fails loudly if DOT stops taking the client it is given."""

    def introspect():
        return client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application))

    assert introspect().json()["active"] is True

    with django_assert_num_queries(0):
        assert introspect().json()["active"] is True

    Application.objects.filter(pk=application.pk).update(is_enabled=False)
    token_cache_live.forget(f"a:{application.pk}")  # what the trigger on the app's row sends

    assert introspect().status_code == HTTPStatus.UNAUTHORIZED


def test_a_wrong_secret_is_refused_with_the_app_kept_in_memory(token_cache_live, client, raw, application):
    assert client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application)).json()["active"]

    wrong = client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application, "not-the-secret"))

    assert wrong.status_code == HTTPStatus.UNAUTHORIZED


# --- The consent's "last used" note ------------------------------------------------------


def test_the_consents_last_used_is_written_at_most_once_a_minute_per_process_without_the_shared_cache(
    user, application, django_assert_num_queries
):
    """Most API requests note nothing: the process remembers that it noted this person and app."""
    Consent.objects.create(user=user, application=application, last_used_at=timezone.now() - timedelta(days=1))
    consent_mark_used(user_id=user.pk, application_id=application.pk)
    from django.core.cache import cache

    cache.clear()

    with django_assert_num_queries(0):
        consent_mark_used(user_id=user.pk, application_id=application.pk)


def test_an_mcp_request_answered_from_memory_still_notes_a_use_not_noted_lately(
    token_cache_live, mcp, user, application
):
    """/mcp checks a cached token on its event loop (tasks.mcp_auth), but a use this process has not
    noted lately goes to the thread that writes the note, as before."""
    from idp.services.consents import consent_forget_noted_uses

    raw_mcp, _ = issue_access_token(
        user=user, application=application, scope="tasks:read", resource=[f"{settings.SITE_URL}/mcp"]
    )
    long_ago = timezone.now() - timedelta(days=1)
    consent = Consent.objects.create(user=user, application=application, last_used_at=long_ago)
    assert mcp.rpc("tools/list", token=raw_mcp).status_code == HTTPStatus.OK
    consent.refresh_from_db()
    assert consent.last_used_at > long_ago
    Consent.objects.filter(pk=consent.pk).update(last_used_at=long_ago)
    consent_forget_noted_uses()
    from django.core.cache import cache

    cache.clear()

    assert mcp.rpc("tools/list", token=raw_mcp).status_code == HTTPStatus.OK, "answered from memory"

    consent.refresh_from_db()
    assert consent.last_used_at > long_ago


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's triggers and notices (idp 0008)")
def test_the_triggers_name_what_changed_and_stay_quiet_for_last_used_times(transactional_db, user, application):
    import psycopg

    _, token = issue_access_token(user=user, application=application, scope="tasks:read")
    token_id = token.pk
    with psycopg.connect(**token_cache._connection_params(), autocommit=True) as listening:
        listening.execute(f"LISTEN {token_cache.CHANNEL}")

        Application.objects.filter(pk=application.pk).update(last_used_at=timezone.now())
        type(user).objects.filter(pk=user.pk).update(last_login=timezone.now())
        Consent.objects.create(user=user, application=application)
        Consent.objects.filter(user=user).update(last_used_at=timezone.now())
        quiet = [notice.payload for notice in listening.notifies(timeout=0.5)]
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        Application.objects.filter(pk=application.pk).update(is_enabled=False)
        Consent.objects.filter(user=user).delete()
        token.delete()
        told = [notice.payload for notice in listening.notifies(timeout=2, stop_after=4)]

    assert quiet == []
    assert told == [f"u:{user.pk}", f"a:{application.pk}", f"u:{user.pk}", f"t:{token_id}"]


def eventually(condition, seconds: float = 30.0) -> bool:
    """Whether `condition` holds within `seconds`: the listener works in a thread of its own."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's notices")
def test_a_listener_whose_connection_is_cut_serves_nothing_until_it_listens_again_with_an_empty_cache(
    transactional_db, raw
):
    """Fail closed: notices sent while the connection is down are lost, so a reconnection empties the cache."""
    import threading

    own, stop, name = token_cache.VerifiedTokenCache(), threading.Event(), f"token cache test {id(raw)}"
    listener = threading.Thread(
        target=token_cache._listen_forever, kwargs={"target": own, "stop": stop, "application_name": name}, daemon=True
    )
    listener.start()
    try:
        assert eventually(own.serving)
        grant = bearer._load(checksum(raw)).grant
        assert own.put(checksum(raw), grant, sequence=own.sequence())
        before_the_cut = own.sequence()

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [name])

        assert eventually(lambda: own.sequence() >= before_the_cut + 2 and own.serving()), "dark, then live again"
        assert own.get(checksum(raw)) is None
        assert len(own) == 0
    finally:
        stop.set()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's notices")
def test_a_listening_process_drops_a_token_changed_by_anyone_once_it_commits(transactional_db, raw):
    import threading

    from oauth2_provider.models import get_access_token_model

    own, stop = token_cache.VerifiedTokenCache(), threading.Event()
    listener = threading.Thread(target=token_cache._listen_forever, kwargs={"target": own, "stop": stop}, daemon=True)
    listener.start()
    try:
        assert eventually(own.serving)
        assert own.put(checksum(raw), bearer._load(checksum(raw)).grant, sequence=own.sequence())

        get_access_token_model().objects.filter(token_checksum=checksum(raw)).update(scope="tasks:read")

        assert eventually(lambda: own.get(checksum(raw)) is None)
    finally:
        stop.set()
