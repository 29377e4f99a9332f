"""The Redis cache: one connection pool per process, whatever context or thread a request runs in.

Django keeps its cache backends in a context-local; servers and the MCP SDK
run requests in fresh contexts and threads (config/cache.py). Runs against
the Redis at TASKGATE_TEST_REDIS_URL, skipped when none answers unless
TASKGATE_REQUIRE_REDIS=1 (as in .ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TASKGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Ten requests, each in a new context and a new thread, as a2wsgi runs Django's
# and the MCP SDK its tools'; each uses the cache once. Prints how many Redis
# connections they used (each connection is connected, or checked to be, when
# a pool hands it out; the objects are kept, so that none is counted twice).
REQUESTS = """
import contextvars, threading, uuid
import django
django.setup()
import redis.connection
from django.core.cache import caches

opened = {}
connect = redis.connection.AbstractConnection.connect
def counted(self):
    opened[id(self)] = self
    return connect(self)
redis.connection.AbstractConnection.connect = counted

prefix = f"taskgate-test-{uuid.uuid4().hex}"
def request(number):
    contextvars.Context().run(lambda: caches["default"].set(f"{prefix}-{number}", number, timeout=5))
for number in range(10):
    thread = threading.Thread(target=request, args=(number,))
    thread.start()
    thread.join()
print(len(opened))
"""


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not _redis_answers():
        if os.environ.get("TASKGATE_REQUIRE_REDIS") == "1":
            pytest.fail(f"TASKGATE_REQUIRE_REDIS=1 but no Redis answers at {REDIS_URL}")
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    return REDIS_URL


def _connections_opened_by_ten_requests(**env: str) -> int:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    result = subprocess.run(
        [sys.executable, "-c", REQUESTS], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


def test_requests_in_new_contexts_and_threads_share_one_redis_connection(redis_url):
    assert _connections_opened_by_ten_requests(REDIS_URL=redis_url) == 1


def test_without_the_shared_pool_each_new_context_would_open_a_connection(redis_url):
    """The control: Django's own pool class, per backend, opens one connection per request here."""
    without = REQUESTS.replace(
        "django.setup()",
        "from django.conf import settings\ndjango.setup()\nsettings.CACHES['default']['OPTIONS'].pop('pool_class')",
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-c", without], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == 10


def test_our_own_redis_commands_use_one_client_per_process_whatever_the_thread(redis_url):
    """idp.ratelimit's pipeline: no client object built per request, none borrowed from Django's internals."""
    import threading

    from config.cache import redis_client

    seen = []
    threads = [threading.Thread(target=lambda: seen.append(redis_client(redis_url))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(client) for client in seen}) == 1
    assert seen[0] is redis_client(redis_url)
    assert seen[0].ping()
