"""Load and restarts on a live server with several workers: nothing answered 2xx is lost, nothing is doubled.

Behind the `load` marker (.ci/run runs it on SQLite and PostgreSQL as part of `make test`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from http import HTTPStatus

import pytest
import requests

from tests.concurrency import fire
from tests.fixtures import issue_access_token

pytestmark = [pytest.mark.live, pytest.mark.load]

CREATIONS = 200
REPEATED_KEYS = 20  # 100 requests share 20 keys, 5 each; 100 have keys of their own


@pytest.fixture(scope="module")
def load_server(django_db_setup, django_db_blocker, workdir):
    from tests.live import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer(workers=4, log_path=workdir / "live-server-load.log").start(timeout=60)
    yield server
    server.stop()


def test_200_concurrent_creations_with_distinct_and_repeated_idempotency_keys(
    load_server, transactional_db, user, application
):
    from tasks.models import Task

    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read tasks:write")
    keys = [f"unique-{number}" for number in range(CREATIONS // 2)] + [
        f"shared-{number % REPEATED_KEYS}" for number in range(CREATIONS // 2)
    ]
    queue = iter(keys)
    lock = threading.Lock()

    def send():
        with lock:
            key = next(queue)
        response = requests.post(
            f"{load_server.url}/api/tasks",
            json={"title": f"Task {key}", "idempotency_key": key},
            headers={"Authorization": f"Bearer {raw}"},
            timeout=120,
        )
        response.key = key
        return response

    results = fire(CREATIONS, send)

    statuses = Counter(r.status_code if isinstance(r, requests.Response) else repr(r) for r in results)
    assert set(statuses) <= {HTTPStatus.CREATED, HTTPStatus.OK}, (statuses, load_server.log_tail())
    created = [r for r in results if r.status_code == HTTPStatus.CREATED]
    stored = {str(task.public_id): task for task in Task.objects.filter(owner=user)}
    assert all(r.json()["id"] in stored for r in results), "every answered task is in the database"
    # Each key made exactly one task, and every answer for a key names that task.
    assert len(stored) == len(set(keys)) == CREATIONS // 2 + REPEATED_KEYS
    assert len(created) == len(set(keys)), statuses
    by_key: dict[str, set[str]] = {}
    for r in results:
        by_key.setdefault(r.key, set()).add(r.json()["id"])
    assert all(len(ids) == 1 for ids in by_key.values())
    assert all(stored[next(iter(ids))].title == f"Task {key}" for key, ids in by_key.items())


def test_a_restart_in_the_middle_of_a_stream_of_writes_loses_no_acknowledged_write(
    django_db_setup, django_db_blocker, transactional_db, workdir, user, application
):
    """SIGTERM to the server mid-stream: every write answered 2xx is there afterwards, whole."""
    from tasks.models import Task
    from tests.live import LiveServer

    raw, _ = issue_access_token(user=user, application=application, scope="tasks:read tasks:write")
    server = LiveServer(workers=2, log_path=workdir / "live-server-restart.log").start(timeout=60)
    acknowledged: dict[str, str] = {}
    failures: Counter = Counter()
    stop = threading.Event()

    def write(writer: int) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            title = f"w{writer}-{number}-{uuid.uuid4().hex}" + " words" * 20
            try:
                response = requests.post(
                    f"{server.url}/api/tasks",
                    json={"title": title[:200], "notes": "n" * 2000, "idempotency_key": f"{writer}-{number}"},
                    headers={"Authorization": f"Bearer {raw}"},
                    timeout=10,
                )
            except requests.RequestException:
                failures["connection"] += 1
                time.sleep(0.05)
                continue
            if response.status_code in (HTTPStatus.CREATED, HTTPStatus.OK):
                acknowledged[response.json()["id"]] = title[:200]
            else:
                failures[response.status_code] += 1

    writers = [threading.Thread(target=write, args=(index,)) for index in range(4)]
    try:
        for thread in writers:
            thread.start()
        time.sleep(2)
        before_restart = len(acknowledged)
        server.stop()  # SIGTERM: the server finishes what it can and exits
        server.start(timeout=60)
        time.sleep(2)
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
        server.stop()

    assert before_restart > 0, failures
    assert len(acknowledged) > before_restart, "writes went on after the restart"
    assert all(code == "connection" or code >= HTTPStatus.INTERNAL_SERVER_ERROR for code in failures), failures
    stored = dict(Task.objects.filter(owner=user).values_list("public_id", "title"))
    stored = {str(key): value for key, value in stored.items()}
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert all(stored[task_id] == title for task_id, title in acknowledged.items())
    # No half-written rows: every stored task is whole.
    assert all(len(task.notes) == 2000 for task in Task.objects.filter(owner=user))
