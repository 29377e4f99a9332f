"""Activity over real HTTP: an MCP client (the official SDK) and a GPT-style client (Authlib against /api)
each create and complete tasks for one person; every place names the right app, and the counts after
`rollup_activity` equal the calls made."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from django.core.management import call_command
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.live import LiveServer
from tests.people import answer_consent, log_in

pytestmark = pytest.mark.live

REDIRECT_URI = "https://chat.example.com/callback"


REDIS_URL = "redis://127.0.0.1:6379/5"  # the tests' own Redis database


@pytest.fixture(scope="module", params=["database", "redis"])
def activity_server(request, django_db_setup, django_db_blocker, workdir):
    """A live server of its own that flushes its counts every second (the suite's flush only when asked):
    into the hourly rows directly, or into Redis for rollup_activity to move."""
    env = {"ACTIVITY_FLUSH_SECONDS": "1"}
    if request.param == "redis":
        import redis

        from idp.activity.store import PREFIX

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(PREFIX + "*"):
            client.delete(key)
        env["REDIS_URL"] = REDIS_URL
    with django_db_blocker.unblock():
        server = LiveServer(log_path=workdir / f"live-server-activity-{request.param}.log", extra_env=env)
        server.start()
    server.redis_url = env.get("REDIS_URL", "")
    yield server
    server.stop()


async def mcp_session(url: str, provider) -> list:
    import httpx2

    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            first = await client.call_tool("create_task", {"title": "Water the plants"})
            await client.call_tool("create_task", {"title": "Feed the cat"})
            done = await client.call_tool("complete_task", {"task_id": first.structured_content["id"]})
            listed = await client.call_tool("list_tasks", {})
    return [first, done, listed]


def gpt_session(server: LiveServer, gpt, user, password, monkeypatch) -> list[requests.Response]:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    client = OAuth2Session(
        gpt.client_id,
        gpt.client_secret_plain,
        scope="tasks:read tasks:write",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = "g" * 64
    authorization_url, _ = client.create_authorization_url(f"{server.url}/idp", code_verifier=verifier)
    browser = requests.Session()
    log_in(browser, server.url, user.email, password)
    callback = answer_consent(browser, authorization_url)
    client.fetch_token(f"{server.url}/idp/token", authorization_response=callback["_location"], code_verifier=verifier)
    first = client.post(f"{server.url}/api/tasks", json={"title": "Book the dentist"}, timeout=10)
    second = client.post(f"{server.url}/api/tasks", json={"title": "Renew the passport"}, timeout=10)
    done = client.post(f"{server.url}/api/tasks/{first.json()['id']}/complete", timeout=10)
    listed = client.get(f"{server.url}/api/tasks", timeout=10)
    return [first, second, done, listed]


def counts_of(app_id: int) -> dict[str, int]:
    from idp.models import ActivityCount

    totals: dict[str, int] = {}
    for metric, number in ActivityCount.objects.filter(app_id=app_id).values_list("metric", "count"):
        totals[metric] = totals.get(metric, 0) + number
    return totals


def wait_for_counts(app_id: int, expected: dict[str, int], timeout: float = 20) -> dict[str, int]:
    """The server flushes every second, to the rows or to Redis, from which rollup_activity moves them."""
    deadline = time.monotonic() + timeout
    while True:
        call_command("rollup_activity")
        found = counts_of(app_id)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_an_mcp_client_and_a_gpt_each_act_for_a_person_and_every_place_names_the_right_app(
    activity_server, transactional_db, settings, user, password, monkeypatch
):
    from idp.models import ActivityPerson, ActivityRecord, Application
    from tasks.models import Task
    from tests.e2e.test_mcp_sdk_client import oauth
    from tests.factories import ApplicationFactory
    from tests.mcp_sdk import MemoryStorage, Person, run

    # rollup_activity reads where the server counts.
    settings.REDIS_URL = activity_server.redis_url
    gpt = ApplicationFactory(name="Tasks GPT", redirect_uris=REDIRECT_URI)
    storage = MemoryStorage()
    provider = oauth(activity_server, Person(activity_server.url, user.email, password), storage)

    mcp_first, mcp_done, mcp_listed = run(mcp_session, f"{activity_server.url}/mcp", provider)
    api_first, api_second, api_done, api_listed = gpt_session(activity_server, gpt, user, password, monkeypatch)

    sdk = Application.objects.get(client_id=storage.client_info.client_id)
    # The answers name the app that made each task.
    assert mcp_first.structured_content["created_by_app"] == {"client_id": sdk.client_id, "name": sdk.name}
    assert mcp_done.structured_content["updated_by_app"]["name"] == sdk.name
    assert api_first.status_code == HTTPStatus.CREATED
    assert api_first.json()["created_by_app"] == {"client_id": gpt.client_id, "name": "Tasks GPT"}
    assert api_done.json()["updated_by_app"]["name"] == "Tasks GPT"
    by_title = {task["title"]: task["created_by_app"]["name"] for task in api_listed.json()["results"]}
    assert by_title == {
        "Water the plants": sdk.name,
        "Feed the cat": sdk.name,
        "Book the dentist": "Tasks GPT",
        "Renew the passport": "Tasks GPT",
    }
    assert {task["title"] for task in mcp_listed.structured_content["tasks"]} == {"Water the plants", "Feed the cat"}
    # The tasks and the records.
    assert Task.objects.filter(created_by_app=sdk).count() == 2
    assert Task.objects.filter(created_by_app=gpt).count() == 2
    assert sorted(ActivityRecord.objects.filter(application=sdk).values_list("operation", "outcome")) == [
        ("complete_task", "completed"),
        ("create_task", "created"),
        ("create_task", "created"),
    ]
    assert sorted(ActivityRecord.objects.filter(application=gpt).values_list("operation", "outcome")) == [
        ("completeTask", "completed"),
        ("createTask", "created"),
        ("createTask", "created"),
    ]
    assert set(ActivityRecord.objects.values_list("user", flat=True)) == {user.pk}

    if activity_server.redis_url:
        # The server's flushes go to Redis: no row until rollup_activity moves them.
        import redis

        from idp.activity.store import HOURS
        from idp.models import ActivityCount

        client = redis.Redis.from_url(activity_server.redis_url)
        deadline = time.monotonic() + 10
        while not client.smembers(HOURS) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.smembers(HOURS)
        assert not ActivityCount.objects.exists()

    # The counts, once flushed and rolled up, are the calls made: three writes and a read each.
    expected_sdk = {"token:authorization_code": 1, "mcp:create_task": 2, "mcp:complete_task": 1, "mcp:list_tasks": 1}
    assert wait_for_counts(sdk.pk, expected_sdk) == expected_sdk
    assert wait_for_counts(gpt.pk, {"token:authorization_code": 1, "api": 4}) == {
        "token:authorization_code": 1,
        "api": 4,
    }
    assert set(ActivityPerson.objects.values_list("app_id", "user_id")) == {(sdk.pk, user.pk), (gpt.pk, user.pk)}
    call_command("rollup_activity")
    assert counts_of(gpt.pk)["api"] == 4, "a second roll-up counts nothing twice"

    # /account tells the person what each app did today.
    browser = requests.Session()
    log_in(browser, activity_server.url, user.email, password)
    page = browser.get(f"{activity_server.url}/account", timeout=10).text
    assert page.count("Today: added 2 tasks, completed 1.") == 2
    assert "Tasks GPT" in page
    assert sdk.name in page
