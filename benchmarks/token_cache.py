"""The verified-token cache (idp.token_cache), measured: not part of `make test`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/taskgate_bench uv run python -m benchmarks.token_cache

1. How soon a LISTENing connection hears a `pg_notify` after the COMMIT that
   sent it (the delay before every process drops an ended token).
2. The CPU and wall time of `GET /api/tasks` (20 tasks) and of an
   introspection in one process through Django's test client, the token
   checked in the database and then from the cache.

DATABASE_URL must name a migrated PostgreSQL database the benchmark may
write to; it removes what it made.
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_ENV_FILE", "")
os.environ.setdefault("IDP_INTROSPECTION_RATE_LIMIT", "1000000/s")
os.environ.setdefault("SITE_URL", "http://testserver")

NOTICES = 500
REQUESTS = 400


def notice_delay() -> list[float]:
    import psycopg

    from idp.token_cache import _connection_params

    delays: list[float] = []
    with (
        psycopg.connect(**_connection_params(), autocommit=True) as listening,
        psycopg.connect(**_connection_params(), autocommit=True) as writing,
    ):
        listening.execute("LISTEN taskgate_bench_delay")

        def hear() -> None:
            for notice in listening.notifies(stop_after=NOTICES, timeout=30):
                delays.append(time.perf_counter() - float(notice.payload))

        thread = threading.Thread(target=hear)
        thread.start()
        for _ in range(NOTICES):
            writing.execute("SELECT pg_notify('taskgate_bench_delay', %s)", [repr(time.perf_counter())])
            time.sleep(0.002)
        thread.join()
    return sorted(delays)


def per_request() -> None:
    from django.conf import settings
    from django.test import Client

    from idp import token_cache
    from tests.factories import ApplicationFactory, TaskFactory, UserFactory
    from tests.fixtures import issue_access_token

    settings.ALLOWED_HOSTS = ["*"]
    tag = secrets.token_hex(4)
    user = UserFactory(username=f"bench-{tag}", email=f"bench-{tag}@example.com")
    application = ApplicationFactory(name=f"bench-{tag}")
    try:
        TaskFactory.create_batch(20, owner=user)
        raw, _ = issue_access_token(user=user, application=application, scope="tasks:read")
        client = Client()
        credentials = f"{application.client_id}:{application.client_secret_plain}".encode()
        basic = "Basic " + base64.b64encode(credentials).decode()

        def api() -> None:
            if client.get("/api/tasks", headers={"Authorization": f"Bearer {raw}"}).status_code != 200:
                raise SystemExit("GET /api/tasks failed")

        def introspect() -> None:
            if not client.post("/idp/introspect", {"token": raw}, HTTP_AUTHORIZATION=basic).json()["active"]:
                raise SystemExit("introspection said the token is not active")

        for live in (False, True, False, True):
            if live:
                token_cache.cache.go_live(heard_for=3600)
            else:
                token_cache.cache.go_dark()
            for name, request in (("GET /api/tasks", api), ("introspection", introspect)):
                for _ in range(50):
                    request()
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(REQUESTS):
                    request()
                cpu, wall = (time.process_time() - cpu) / REQUESTS, (time.perf_counter() - wall) / REQUESTS
                print(
                    f"token from the {'cache   ' if live else 'database'}  {name:15} "
                    f"{cpu * 1e3:.2f} ms CPU, {wall * 1e3:.2f} ms wall per request"
                )
    finally:
        token_cache.cache.go_dark()
        user.delete()
        application.delete()


def main() -> None:
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the cache is off on SQLite.")
    delays = notice_delay()
    print(
        f"notice heard after its COMMIT: median {statistics.median(delays) * 1e3:.2f} ms, "
        f"p99 {delays[int(len(delays) * 0.99)] * 1e3:.2f} ms ({len(delays)} notices)"
    )
    per_request()


if __name__ == "__main__":
    main()
