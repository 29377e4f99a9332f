"""What each connected app did: attribution, activity records, counts, roll-up, /account and the admin's page."""

from __future__ import annotations

import types
from datetime import timedelta
from http import HTTPStatus

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from idp import activity
from idp.activity import store
from idp.audit import AuditEvent
from idp.models import ActivityCount, ActivityPerson, ActivityRecord, Consent
from tasks.models import Task
from tests.factories import ApplicationFactory, TaskFactory, UserFactory
from tests.fixtures import issue_access_token

REDIS_URL = "redis://127.0.0.1:6379/5"
BOTH = "tasks:read tasks:write"


def bearer(client, raw: str, method: str, path: str, body=None):
    return getattr(client, method)(
        path, body or "", content_type="application/json", headers={"Authorization": f"Bearer {raw}"}
    )


def counts(app_id: int | None = None) -> dict[str, int]:
    rows = ActivityCount.objects.all() if app_id is None else ActivityCount.objects.filter(app_id=app_id)
    totals: dict[str, int] = {}
    for metric, number in rows.values_list("metric", "count"):
        totals[metric] = totals.get(metric, 0) + number
    return totals


@pytest.fixture
def gpt(db):
    return ApplicationFactory(name="ChatGPT")


@pytest.fixture
def gpt_token(user, gpt) -> str:
    raw, _ = issue_access_token(user=user, application=gpt, scope=BOTH)
    return raw


# --- Attribution and records ---------------------------------------------------------


def test_a_task_an_app_creates_names_the_app_in_the_api_and_a_task_the_person_creates_names_none(
    client, user, gpt, gpt_token
):
    created = bearer(client, gpt_token, "post", "/api/tasks", {"title": "Buy milk"}).json()
    client.force_login(user)
    mine = client.post("/api/tasks", {"title": "Mine"}, content_type="application/json").json()

    assert created["created_by_app"] == {"client_id": gpt.client_id, "name": "ChatGPT"}
    assert created["updated_by_app"] == {"client_id": gpt.client_id, "name": "ChatGPT"}
    assert mine["created_by_app"] is None
    listed = bearer(client, gpt_token, "get", "/api/tasks").json()["results"]
    assert {task["title"]: task["created_by_app"] for task in listed} == {
        "Buy milk": {"client_id": gpt.client_id, "name": "ChatGPT"},
        "Mine": None,
    }


def test_the_task_list_stays_one_query_with_the_apps_joined(client, user, gpt, gpt_token):
    for number in range(5):
        bearer(client, gpt_token, "post", "/api/tasks", {"title": f"Task {number}"})
    TaskFactory.create_batch(3, owner=user)
    bearer(client, gpt_token, "get", "/api/tasks")  # the token is now cached

    with CaptureQueriesContext(connection) as queries:
        response = bearer(client, gpt_token, "get", "/api/tasks")

    assert len(response.json()["results"]) == 8
    task_queries = [query["sql"] for query in queries if "tasks_task" in query["sql"]]
    assert len(task_queries) == 1
    assert "JOIN" in task_queries[0]
    assert not ActivityRecord.objects.filter(operation="listTasks").exists(), "reads are counted, not recorded"


def test_each_write_through_the_api_leaves_a_record_naming_person_app_operation_task_and_outcome(
    client, user, gpt, gpt_token
):
    task = bearer(client, gpt_token, "post", "/api/tasks", {"title": "Plan", "idempotency_key": "k1"}).json()
    bearer(client, gpt_token, "post", "/api/tasks", {"title": "Plan", "idempotency_key": "k1"})
    bearer(client, gpt_token, "patch", f"/api/tasks/{task['id']}", {"notes": "Soon"})
    bearer(client, gpt_token, "post", f"/api/tasks/{task['id']}/complete")
    bearer(client, gpt_token, "delete", f"/api/tasks/{task['id']}")

    records = list(ActivityRecord.objects.order_by("id").values_list("operation", "outcome"))
    assert records == [
        ("createTask", "created"),
        ("createTask", "existing"),
        ("updateTask", "updated"),
        ("completeTask", "completed"),
        ("deleteTask", "deleted"),
    ]
    record = ActivityRecord.objects.first()
    assert record.user == user
    assert record.application == gpt
    assert record.application_label == "ChatGPT"
    assert str(record.task_public_id) == task["id"]
    assert record.task_title == "Plan"


def test_a_refused_write_leaves_no_record_and_no_task(client, gpt_token):
    response = bearer(client, gpt_token, "post", "/api/tasks", {"title": "   "})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not ActivityRecord.objects.exists()
    assert not Task.objects.exists()


def test_a_change_by_the_person_on_the_docs_page_clears_the_last_app(client, user, gpt_token):
    task = bearer(client, gpt_token, "post", "/api/tasks", {"title": "Plan"}).json()
    client.force_login(user)

    changed = client.patch(f"/api/tasks/{task['id']}", {"title": "Plan B"}, content_type="application/json").json()

    assert changed["created_by_app"]["name"] == "ChatGPT"
    assert changed["updated_by_app"] is None
    assert ActivityRecord.objects.filter(application=None, operation="updateTask").count() == 1


def test_the_openapi_document_describes_the_apps_of_a_task(client):
    schema = client.get("/api/schema", headers={"Accept": "application/json"})
    text = schema.content.decode()

    assert "created_by_app" in text
    assert "updated_by_app" in text
    assert "The connected app that created the task" in text


# --- Counting, flushing and the roll-up ------------------------------------------------


def test_calls_refusals_and_people_are_counted_per_app_and_written_only_when_flushed(
    client, user, other_user, gpt, gpt_token
):
    other_token, _ = issue_access_token(user=other_user, application=gpt, scope="tasks:read")
    bearer(client, gpt_token, "get", "/api/tasks")
    bearer(client, gpt_token, "get", "/api/me")
    bearer(client, other_token, "get", "/api/tasks")
    forbidden = bearer(client, other_token, "post", "/api/tasks", {"title": "No"})
    unknown = bearer(client, "not-a-token", "get", "/api/tasks")
    assert forbidden.status_code == HTTPStatus.FORBIDDEN
    assert unknown.status_code == HTTPStatus.UNAUTHORIZED
    assert not ActivityCount.objects.exists(), "no database write on the request's path"

    activity.flush()

    assert counts(gpt.pk) == {"api": 3, "refused:403": 1}
    assert counts(0) == {"refused:401": 1}
    assert ActivityPerson.objects.filter(app_id=gpt.pk).count() == 2


def test_with_counting_off_nothing_is_counted(client, settings, gpt_token):
    settings.ACTIVITY_COUNTING = False
    bearer(client, gpt_token, "get", "/api/tasks")

    activity.flush()

    assert not ActivityCount.objects.exists()


def test_an_unexpected_error_in_the_api_is_counted_as_an_error_of_the_app(client, gpt, gpt_token, monkeypatch):
    from tasks import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "task_list", broken)
    client.raise_request_exception = False

    response = bearer(client, gpt_token, "get", "/api/tasks")
    activity.flush()

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert counts(gpt.pk) == {"api": 1, "error": 1}


def test_the_mcp_tools_are_counted_by_tool_and_their_writes_recorded(mcp, settings, user, gpt):
    raw, _ = issue_access_token(user=user, application=gpt, scope=BOTH, resource=[settings.MCP_RESOURCE_URL])
    created = mcp.call_tool("create_task", {"title": "From MCP"}, token=raw).json()["result"]
    mcp.call_tool("complete_task", {"task_id": created["structuredContent"]["id"]}, token=raw)
    mcp.call_tool("list_tasks", {}, token=raw)
    mcp.call_tool("list_tasks", {}, token="not-a-token")

    activity.flush()

    assert created["structuredContent"]["created_by_app"] == {"client_id": gpt.client_id, "name": "ChatGPT"}
    assert counts(gpt.pk) == {"mcp:create_task": 1, "mcp:complete_task": 1, "mcp:list_tasks": 1}
    assert counts(0) == {"refused:401": 1}
    assert list(ActivityRecord.objects.order_by("id").values_list("operation", "outcome")) == [
        ("create_task", "created"),
        ("complete_task", "completed"),
    ]


def test_tokens_issued_are_counted_by_grant(user, gpt):
    activity.token_issued_counted(application_id=gpt.pk, user_id=user.pk, grant_type="authorization_code")
    activity.token_issued_counted(application_id=gpt.pk, user_id=user.pk, grant_type="refresh_token")
    activity.token_issued_counted(application_id=gpt.pk, user_id=user.pk, grant_type="refresh_token")

    activity.flush()

    assert counts(gpt.pk) == {"token:authorization_code": 1, "token:refresh_token": 2}


def test_a_tool_that_crashes_counts_as_an_error_of_the_app_and_a_refused_input_does_not(
    mcp, settings, user, gpt, monkeypatch
):
    """As in the REST API: a crash is the app's error (a 500 there), bad input the call's own answer (a 404)."""
    from tasks import selectors

    raw, _ = issue_access_token(user=user, application=gpt, scope=BOTH, resource=[settings.MCP_RESOURCE_URL])
    missing = mcp.call_tool("get_task", {"task_id": "00000000-0000-4000-8000-000000000000"}, token=raw).json()

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "task_list", broken)
    crashed = mcp.call_tool("list_tasks", {}, token=raw).json()
    activity.flush()

    assert missing["result"]["isError"] is True
    assert crashed["result"]["isError"] is True
    assert "boom" not in str(crashed)
    assert counts(gpt.pk) == {"mcp:get_task": 1, "mcp:list_tasks": 1, "error": 1}


def test_failed_client_authentications_at_the_token_endpoint_are_counted_as_refusals(
    client, settings, gpt, monkeypatch
):
    """A wrong secret is a 401 refusal of the app it named; once limited, the 429s name no app
    (the client is not looked up), and an unknown client is no app either."""
    settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = "2/m"
    # Fixed windows: a test that straddled a window's end would see its counters reset.
    monkeypatch.setattr("idp.ratelimit.time", types.SimpleNamespace(time=lambda: 1_800_000_030.0))
    body = {"grant_type": "refresh_token", "refresh_token": "x"}
    client.post("/idp/token", {**body, "client_id": "no-such-app", "client_secret": "x"}, REMOTE_ADDR="192.0.2.1")
    for _ in range(2):
        client.post("/idp/token", {**body, "client_id": gpt.client_id, "client_secret": "x"}, REMOTE_ADDR="192.0.2.2")
    limited = client.post(
        "/idp/token", {**body, "client_id": gpt.client_id, "client_secret": "x"}, REMOTE_ADDR="192.0.2.2"
    )
    activity.flush()

    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert counts(gpt.pk) == {"refused:401": 2}
    assert counts(0) == {"refused:401": 1, "refused:429": 1}


def test_flushes_add_to_the_same_hourly_row(gpt):
    for _ in range(3):
        activity.count(gpt.pk, "api")
        activity.flush()

    assert ActivityCount.objects.get(app_id=gpt.pk, metric="api").count == 3


@pytest.fixture
def redis_counts(settings):
    """Counting through Redis (database 5, the tests' own), emptied before and after."""
    settings.REDIS_URL = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(store.PREFIX + "*"):
        client.delete(key)
    yield client
    for key in client.scan_iter(store.PREFIX + "*"):
        client.delete(key)


def test_with_redis_a_flush_writes_to_redis_and_rollup_moves_the_counts_into_rows_once(redis_counts, user, gpt):
    activity.count(gpt.pk, "api", user.pk)
    activity.count(gpt.pk, "api", user.pk)
    activity.count(gpt.pk, "mcp:list_tasks", user.pk)
    activity.flush()
    assert not ActivityCount.objects.exists()
    assert redis_counts.smembers(store.HOURS)

    call_command("rollup_activity")
    call_command("rollup_activity")  # again: nothing is counted twice

    assert counts(gpt.pk) == {"api": 2, "mcp:list_tasks": 1}
    assert ActivityPerson.objects.get().user_id == user.pk
    assert not list(redis_counts.scan_iter(store.PREFIX + "*")), "the keys it consumed are gone"

    activity.count(gpt.pk, "api", user.pk)
    activity.flush()
    call_command("rollup_activity")

    assert counts(gpt.pk) == {"api": 3, "mcp:list_tasks": 1}
    assert ActivityPerson.objects.count() == 1


def test_a_rollup_whose_database_write_fails_puts_the_counts_back_in_redis(redis_counts, gpt, monkeypatch):
    activity.count(gpt.pk, "api")
    activity.flush()

    def failing(counts, people):
        raise RuntimeError("database down")

    monkeypatch.setattr(store, "add_to_rows", failing)
    with pytest.raises(RuntimeError):
        store.rollup()
    monkeypatch.undo()
    store.rollup()

    assert counts(gpt.pk) == {"api": 1}


def test_rollup_with_redis_unreachable_says_so_in_a_sentence_and_keeps_the_counts(settings, gpt):
    from django.core.management.base import CommandError

    settings.REDIS_URL = "redis://127.0.0.1:1/5"  # nothing listens there

    with pytest.raises(CommandError, match="Redis could not be read .*the counts stay there for the next run"):
        call_command("rollup_activity")


def test_counts_that_cannot_be_written_are_kept_for_the_next_flush(settings, gpt):
    settings.REDIS_URL = "redis://127.0.0.1:1/5"  # nothing listens there
    activity.count(gpt.pk, "api")
    assert activity.flush() == 0
    settings.REDIS_URL = ""

    activity.flush()

    assert counts(gpt.pk) == {"api": 1}


def test_prune_audit_log_also_deletes_activity_older_than_its_retention(settings, user, gpt):
    settings.ACTIVITY_RETENTION_DAYS = 10
    old = timezone.now() - timedelta(days=11)
    ActivityRecord.objects.create(
        user=user, application=gpt, operation="createTask", task_public_id=Task().public_id, outcome="created"
    )
    ActivityRecord.objects.update(created_at=old)
    ActivityCount.objects.create(hour=old, app_id=gpt.pk, metric="api", count=1)
    ActivityCount.objects.create(hour=timezone.now(), app_id=gpt.pk, metric="api", count=1)

    call_command("prune_audit_log")

    assert not ActivityRecord.objects.exists()
    assert ActivityCount.objects.count() == 1


# --- /account ------------------------------------------------------------------------


def test_account_tells_what_each_app_did_today_in_plain_words_and_links_to_all_of_it(client, user, gpt, gpt_token):
    Consent.objects.create(user=user, application=gpt, scope=BOTH)
    first = bearer(client, gpt_token, "post", "/api/tasks", {"title": "One"}).json()
    bearer(client, gpt_token, "post", "/api/tasks", {"title": "Two"})
    bearer(client, gpt_token, "post", "/api/tasks", {"title": "Three"})
    bearer(client, gpt_token, "post", f"/api/tasks/{first['id']}/complete")
    client.force_login(user)

    page = client.get("/account").content.decode()

    assert "Today: added 3 tasks, completed 1." in page
    consent = Consent.objects.get()
    link = reverse("connected_app_activity", args=[consent.pk])
    assert link in page
    listing = client.get(link)
    assert listing.status_code == HTTPStatus.OK
    text = listing.content.decode()
    assert text.count("<tr>") == 5  # the header and four writes
    assert "Completed <code>completeTask</code>" in text


def test_an_app_that_did_nothing_lately_says_so(client, user, gpt):
    Consent.objects.create(user=user, application=gpt, scope=BOTH)
    client.force_login(user)

    assert "No changes to your tasks in the last 7 days." in client.get("/account").content.decode()


@pytest.mark.parametrize("page", ["0", "abc", "99", "1.5"])
def test_a_bad_page_of_an_apps_list_is_a_clear_400(client, user, gpt, page):
    consent = Consent.objects.create(user=user, application=gpt, scope=BOTH)
    client.force_login(user)

    response = client.get(reverse("connected_app_activity", args=[consent.pk]), {"page": page})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "give a page number from 1 to 1" in response.content.decode()


def test_another_persons_app_list_is_not_found(client, user, other_user, gpt):
    consent = Consent.objects.create(user=other_user, application=gpt, scope=BOTH)
    client.force_login(user)

    assert client.get(reverse("connected_app_activity", args=[consent.pk])).status_code == HTTPStatus.NOT_FOUND


# --- The admin's Activity page ----------------------------------------------------------


def test_the_activity_page_draws_each_chart_in_svg_with_its_numbers_in_a_table(admin_client, user, gpt):
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    ActivityCount.objects.create(hour=now, app_id=gpt.pk, metric="api", count=7)
    ActivityCount.objects.create(hour=now, app_id=gpt.pk, metric="mcp:list_tasks", count=2)
    ActivityCount.objects.create(hour=now, app_id=gpt.pk, metric="token:authorization_code", count=1)
    ActivityCount.objects.create(hour=now, app_id=0, metric="refused:401", count=4)
    ActivityPerson.objects.create(hour=now, app_id=gpt.pk, user_id=user.pk)
    idle = ApplicationFactory(name="Forgotten app")
    type(idle).objects.filter(pk=idle.pk).update(created=now - timedelta(days=90))

    for range_ in ("24h", "7d", "30d"):
        response = admin_client.get("/admin/activity/", {"range": range_})
        assert response.status_code == HTTPStatus.OK
        page = response.content.decode()
        assert page.count('<svg class="activity-chart"') == 4
        assert page.count('<details class="activity-numbers">') == 4
    assert "Calls (API and MCP tools), last 30 days</strong>: 9" in page
    assert "Refusals (401, 403, 429), last 30 days</strong>: 4" in page
    assert "ChatGPT" in page
    assert "list_tasks 2" in page
    assert "Forgotten app" in page
    assert "cdn" not in page.lower()


def test_the_activity_page_shows_one_app_and_its_writes(admin_client, client, user, gpt, gpt_token):
    bearer(client, gpt_token, "post", "/api/tasks", {"title": "Recorded"})

    page = admin_client.get("/admin/activity/", {"app": gpt.client_id, "person": str(user.pk)}).content.decode()

    assert "Tokens issued, last 7 days, ChatGPT" in page
    assert "Recorded" in page
    assert "createTask" in page


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({"range": "1y"}, "range must be one of 24h, 7d, 30d; got &#x27;1y&#x27;."),
        ({"app": "nobody"}, "No app has the client ID &#x27;nobody&#x27;."),
        ({"person": "me"}, "person must be a person&#x27;s number"),
        ({"idle_days": "0"}, "idle_days must be a whole number from 1 to 3650"),
        ({"idle_days": "99999999"}, "idle_days must be a whole number from 1 to 3650"),
    ],
)
def test_bad_filters_of_the_activity_page_are_a_clear_400(admin_client, params, sentence):
    response = admin_client.get("/admin/activity/", params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert sentence in response.content.decode()


def test_the_activity_page_is_for_staff_only(client, user):
    client.force_login(user)

    response = client.get("/admin/activity/")

    assert response.status_code == HTTPStatus.FOUND
    assert "/admin/login/" in response["Location"]


def test_each_apps_admin_page_has_an_activity_panel_and_the_index_links_the_page(admin_client, gpt):
    page = admin_client.get(reverse("admin:idp_application_change", args=[gpt.pk])).content.decode()

    assert "Activity, last 7 days" in page
    assert page.count('<svg class="activity-chart"') == 4
    assert reverse("admin-activity") in admin_client.get("/admin/").content.decode()


def test_the_audit_logs_events_link_to_the_activity_of_their_app_and_person(admin_client, user, gpt):
    AuditEvent.objects.create(kind=AuditEvent.Kind.TOKEN_ISSUED, user=user, application=gpt)

    page = admin_client.get(reverse("admin:idp_auditevent_changelist")).content.decode()

    assert f"/admin/activity/?app={gpt.client_id}&amp;person={user.pk}" in page


def test_a_person_without_the_activity_permission_is_refused(client, db):
    staff = UserFactory(is_staff=True)
    from tests.fixtures import verify_second_factor

    client.force_login(staff)
    verify_second_factor(client, staff)

    assert client.get("/admin/activity/").status_code == HTTPStatus.FORBIDDEN
