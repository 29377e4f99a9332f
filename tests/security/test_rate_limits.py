"""Limits on abuse: failed client authentication at the token endpoint and introspection answer 429.

RFC 6819 §5.1.4.2.3 (guessing client secrets: "limit the number of
attempts"), RFC 6585 §4 (429 Too Many Requests, with Retry-After). The
counters live in Django's cache: local memory by default, Redis when
REDIS_URL is set (shared by every worker). Each test runs on both; the Redis
run is skipped when no Redis answers at 127.0.0.1:6379, unless
TASKGATE_REQUIRE_REDIS=1 (as in .ci/run), which makes that a failure.
"""

from __future__ import annotations

import os
import types
import uuid
from http import HTTPStatus

import pytest

from tests.fixtures import issue_access_token
from tests.oauth_flow import basic

REDIS_URL = os.environ.get("TASKGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["locmem", "redis"])
def limit_cache(request, settings, monkeypatch):
    """The rate-limit cache, local memory or Redis, with time frozen inside one window."""
    if request.param == "redis":
        if not _redis_answers():
            if os.environ.get("TASKGATE_REQUIRE_REDIS") == "1":
                pytest.fail(f"TASKGATE_REQUIRE_REDIS=1 but no Redis answers at {REDIS_URL}")
            pytest.skip(f"no Redis answers at {REDIS_URL}")
        # A prefix of its own: the Redis server may be shared, so it is never flushed.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"taskgate-test-{uuid.uuid4().hex}",
            }
        }
    # Fixed windows: a test that straddled a window's end would see its counters reset.
    monkeypatch.setattr("idp.ratelimit.time", types.SimpleNamespace(time=lambda: 1_800_000_030.0))
    return request.param


def token_request(client, application, secret: str, address: str = "203.0.113.9"):
    return client.post(
        "/idp/token",
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": application.redirect_uri_list()[0]},
        HTTP_AUTHORIZATION=basic(application, secret),
        REMOTE_ADDR=address,
    )


def test_failed_client_authentication_is_limited_per_client_with_429_and_retry_after(
    client, application, settings, limit_cache
):
    """RFC 6819 §5.1.4.2.3: limit attempts at a client's secret; RFC 6585 §4: 429 and Retry-After."""
    settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = "3/m"
    for number in range(3):
        response = token_request(client, application, "wrong", address=f"198.51.100.{number + 1}")
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"

    limited = token_request(client, application, application.client_secret_plain, address="192.0.2.50")

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert limited["Retry-After"] == "30"
    assert limited.json()["error"] == "too_many_requests"
    assert "retry in 30 s" in limited.json()["error_description"]


def test_failed_client_authentication_is_limited_per_address_whatever_the_client(
    client, application, settings, limit_cache
):
    from tests.factories import ApplicationFactory

    settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = "3/m"
    for _ in range(3):
        other = ApplicationFactory()
        assert token_request(client, other, "wrong").status_code == HTTPStatus.UNAUTHORIZED

    assert token_request(client, application, "wrong").status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Another address and another client are not affected.
    assert token_request(client, application, "wrong", address="192.0.2.77").status_code == HTTPStatus.UNAUTHORIZED


def test_a_wrong_secret_in_the_body_counts_as_a_failed_client_authentication(
    client, application, settings, limit_cache
):
    """RFC 6749 §2.3.1 client_secret_post: a wrong secret sent in the body is `invalid_client` (oauthlib
    answers 401 however the client authenticated) and is limited as one sent in the header is."""
    settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = "2/m"
    body = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": application.client_id}
    for _ in range(2):
        response = client.post("/idp/token", {**body, "client_secret": "wrong"}, REMOTE_ADDR="198.51.100.40")
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert response.json()["error"] == "invalid_client"

    limited = client.post(
        "/idp/token", {**body, "client_secret": application.client_secret_plain}, REMOTE_ADDR="198.51.100.41"
    )

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_successful_token_requests_do_not_count(client, application, settings, limit_cache):
    settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = "2/m"
    for _ in range(5):
        # Authenticated, but the code is bad: invalid_grant, not a failed authentication.
        response = token_request(client, application, application.client_secret_plain)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response.json()["error"] == "invalid_grant"


def test_introspection_is_limited_per_caller_with_429_and_retry_after(client, user, application, settings, limit_cache):
    settings.IDP_INTROSPECTION_RATE_LIMIT = "4/m"
    raw, _ = issue_access_token(user=user, application=application, scope="openid")
    for _ in range(4):
        response = client.post(
            "/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application), REMOTE_ADDR="203.0.113.20"
        )
        assert response.json()["active"] is True

    limited = client.post(
        "/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic(application), REMOTE_ADDR="203.0.113.21"
    )

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert limited["Retry-After"] == "30"
    assert limited["Cache-Control"] == "no-store"


def test_redis_url_selects_djangos_redis_cache():
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/3", "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "django.core.cache.backends.redis.RedisCache", out.stderr
    env.pop("REDIS_URL")
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache", out.stderr


def test_a_counter_is_one_key_that_expires_with_its_window(limit_cache):
    """Each window's counter expires with it (no key lives on), and counts every hit, on both caches."""
    from django.core.cache import caches

    from idp.ratelimit import RateLimit

    limit = RateLimit.parse("test", "3/m")

    results = [limit.hit("198.51.100.1") for _ in range(4)]

    assert results[:3] == [None, None, None]
    assert 1 <= results[3] <= 60
    _, _, key = limit._window("198.51.100.1")
    backend = caches["default"]
    assert backend.get(key) == 4
    if limit_cache == "redis":
        full_key = backend.make_and_validate_key(key)
        assert 0 < backend._cache.get_client(full_key).ttl(full_key) <= 60
