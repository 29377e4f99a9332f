"""The task REST API over Django's test client: the behaviour, one request at a time."""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks.models import Task
from tests.factories import TaskFactory
from tests.fixtures import issue_access_token

DUE = "2026-05-01T17:00:00+02:00"


def test_create_then_get_update_complete_and_delete_a_task(api, user):
    created = api("POST", "/api/tasks", {"title": "Renew my passport", "due_at": DUE, "priority": "high"})
    assert created.status_code == HTTPStatus.CREATED
    task = created.json()
    assert created["Location"] == f"{settings.SITE_URL}/api/tasks/{task['id']}"
    assert task["title"] == "Renew my passport"
    assert task["due_at"] == "2026-05-01T15:00:00Z"
    assert task["status"] == "todo"
    assert task["priority"] == "high"
    assert task["completed_at"] is None
    assert set(task) == {
        "id", "title", "notes", "status", "priority", "due_at", "completed_at", "created_at", "updated_at",
        "created_by_app", "updated_by_app",
    }  # fmt: skip

    fetched = api("GET", f"/api/tasks/{task['id']}")
    assert fetched.status_code == HTTPStatus.OK
    assert fetched.json() == task

    updated = api("PATCH", f"/api/tasks/{task['id']}", {"notes": "Two photos", "due_at": None})
    assert updated.status_code == HTTPStatus.OK
    assert updated.json()["notes"] == "Two photos"
    assert updated.json()["due_at"] is None
    assert updated.json()["title"] == "Renew my passport"

    completed = api("POST", f"/api/tasks/{task['id']}/complete")
    assert completed.status_code == HTTPStatus.OK
    assert completed.json()["status"] == "done"
    assert completed.json()["completed_at"] is not None

    reopened = api("PATCH", f"/api/tasks/{task['id']}", {"status": "todo"})
    assert reopened.json()["completed_at"] is None

    deleted = api("DELETE", f"/api/tasks/{task['id']}")
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    assert api("GET", f"/api/tasks/{task['id']}").status_code == HTTPStatus.NOT_FOUND
    assert not Task.objects.filter(owner=user).exists()


def test_a_repeated_idempotency_key_returns_the_first_task_with_200(api, user):
    first = api("POST", "/api/tasks", {"title": "Buy milk", "idempotency_key": "k-1"})
    again = api("POST", "/api/tasks", {"title": "Buy milk", "idempotency_key": "k-1"})

    assert first.status_code == HTTPStatus.CREATED
    assert again.status_code == HTTPStatus.OK
    assert again.json()["id"] == first.json()["id"]
    assert Task.objects.filter(owner=user).count() == 1


def test_list_filters_orders_and_pages_with_a_next_link_that_keeps_the_filters(api, user):
    for n in range(5):
        TaskFactory(owner=user, title=f"open {n}", status="todo")
    TaskFactory(owner=user, title="finished", status="done")

    first = api("GET", "/api/tasks?status=todo,in_progress&ordering=-created_at&limit=2")
    assert first.status_code == HTTPStatus.OK
    body = first.json()
    assert len(body["results"]) == 2
    assert body["next"].startswith(f"{settings.SITE_URL}/api/tasks?")
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["status"] == ["todo,in_progress"]
    assert query["ordering"] == ["-created_at"]
    assert query["limit"] == ["2"]
    assert query["cursor"] == [body["next_cursor"]]

    titles = [task["title"] for task in body["results"]]
    next_url = body["next"]
    while next_url:
        page = api("GET", next_url.removeprefix(settings.SITE_URL)).json()
        titles += [task["title"] for task in page["results"]]
        next_url = page["next"]
    assert sorted(titles) == [f"open {n}" for n in range(5)]


def test_list_accepts_the_status_parameter_repeated(api, user):
    TaskFactory(owner=user, title="a", status="todo")
    TaskFactory(owner=user, title="b", status="in_progress")
    TaskFactory(owner=user, title="c", status="done")

    body = api("GET", "/api/tasks?status=todo&status=in_progress").json()

    assert {task["title"] for task in body["results"]} == {"a", "b"}


def test_list_makes_as_many_queries_for_100_tasks_as_for_1(api, user):
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api("GET", "/api/tasks?limit=100")
        assert response.status_code == HTTPStatus.OK
        return len(queries)

    TaskFactory(owner=user)
    # The first call of a minute also notes when the app was last used
    # (idp.services.consents.consent_mark_used, one UPDATE): measure after it.
    api("GET", "/api/tasks")
    one = queries_for_the_list()
    TaskFactory.create_batch(99, owner=user)
    hundred = queries_for_the_list()

    assert len(api("GET", "/api/tasks?limit=100").json()["results"]) == 100
    assert hundred == one


def test_me_says_who_the_token_acts_for_and_shows_name_and_email_only_with_their_scopes(client, user, application):
    narrow, _ = issue_access_token(user=user, application=application, scope="tasks:read")
    wide, _ = issue_access_token(user=user, application=application, scope="tasks:read profile email")

    me = client.get("/api/me", headers={"Authorization": f"Bearer {narrow}"}).json()
    assert me == {"sub": str(user.sub), "name": None, "email": None, "scopes": ["tasks:read"]}
    me = client.get("/api/me", headers={"Authorization": f"Bearer {wide}"}).json()
    assert me == {
        "sub": str(user.sub),
        "name": user.display_name,
        "email": user.email,
        "scopes": ["email", "profile", "tasks:read"],
    }


# --- One person's tasks are invisible to everyone else ---------------------------------


def test_another_persons_task_is_404_for_every_operation_and_stays_unchanged(api, other_user):
    theirs = TaskFactory(owner=other_user, title="Theirs")
    url = f"/api/tasks/{theirs.public_id}"

    assert api("GET", url).status_code == HTTPStatus.NOT_FOUND
    assert api("PATCH", url, {"title": "Mine now"}).status_code == HTTPStatus.NOT_FOUND
    assert api("POST", f"{url}/complete").status_code == HTTPStatus.NOT_FOUND
    assert api("DELETE", url).status_code == HTTPStatus.NOT_FOUND
    assert api("GET", "/api/tasks").json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.title == "Theirs"
    assert theirs.status == "todo"


def test_a_malformed_task_id_is_a_json_404(api):
    response = api("GET", "/api/tasks/not-a-uuid")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"error": "not_found", "detail": "No task with this id."}


# --- Authentication: RFC 6750 §3, RFC 8707 ---------------------------------------------


def test_no_token_gets_401_with_a_bearer_challenge_without_error_code_rfc6750_s3_1(api):
    """RFC 6750 §3.1: "If the request lacks any authentication information ... the
    resource server SHOULD NOT include an error code"."""
    response = api("GET", "/api/tasks", token=None)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("path", ["/api/tasks", "/api/me", "/api/tasks/00000000-0000-0000-0000-000000000000"])
def test_an_unknown_token_gets_401_invalid_token(api, path):
    response = api("GET", path, token="not-a-token")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith('Bearer realm="api",error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


def test_an_expired_token_gets_401_invalid_token(api, user, application):
    expired, _ = issue_access_token(user=user, application=application, scope="tasks:read", expires_in=-1)

    response = api("GET", "/api/tasks", token=expired)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_token_in_the_query_string_is_not_accepted_rfc9700_s4_3_2(api, token):
    """RFC 9700 §4.3.2: access tokens "MUST NOT" be passed in the URI query string."""
    response = api("GET", f"/api/tasks?access_token={token}", token=None)

    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_a_token_issued_for_the_mcp_resource_is_refused_rfc8707(api, user, application):
    """RFC 8707 §2: a resource server accepts only tokens whose audience it is."""
    mcp_token, _ = issue_access_token(
        user=user, application=application, scope="tasks:read tasks:write", resource=[settings.SITE_URL + "/mcp"]
    )

    for method, path in [("GET", "/api/tasks"), ("POST", "/api/tasks"), ("GET", "/api/me")]:
        response = api(method, path, {"title": "x"} if method == "POST" else None, token=mcp_token)
        assert response.status_code == HTTPStatus.UNAUTHORIZED
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert not Task.objects.exists()


def test_a_token_for_the_whole_origin_is_refused_only_the_api_audience_counts(api, user, application):
    """DOT's own check is a URL prefix (SITE_URL would cover /api); ours names /api exactly."""
    origin_token, _ = issue_access_token(
        user=user, application=application, scope="tasks:read", resource=[settings.SITE_URL]
    )

    response = api("GET", "/api/tasks", token=origin_token, SERVER_NAME="127.0.0.1", SERVER_PORT="8000")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "another resource" in response.json()["detail"]


def test_a_token_issued_for_the_api_resource_is_accepted(api, user, application):
    api_token, _ = issue_access_token(
        user=user, application=application, scope="tasks:read", resource=[settings.SITE_URL + "/api"]
    )

    response = api("GET", "/api/tasks", token=api_token, SERVER_NAME="127.0.0.1", SERVER_PORT="8000")

    assert response.status_code == HTTPStatus.OK


def test_a_token_of_a_disabled_app_is_refused(api, application):
    application.is_enabled = False
    application.save()

    assert api("GET", "/api/tasks").status_code == HTTPStatus.UNAUTHORIZED


def test_a_token_of_a_deactivated_person_is_refused(api, user):
    user.is_active = False
    user.save()

    assert api("GET", "/api/tasks").status_code == HTTPStatus.UNAUTHORIZED


def test_a_bad_token_is_refused_even_alongside_a_logged_in_session(logged_in_client):
    response = logged_in_client.get("/api/tasks", headers={"Authorization": "Bearer not-a-token"})

    assert response.status_code == HTTPStatus.UNAUTHORIZED


# --- Scopes: RFC 6750 §3.1 insufficient_scope -------------------------------------------


def test_a_read_token_can_list_but_gets_403_insufficient_scope_on_create(api, user, application):
    """RFC 6750 §3.1: "insufficient_scope ... The resource server SHOULD respond with the
    HTTP 403 (Forbidden) status code and MAY include the "scope" attribute with the
    scope necessary to access the protected resource"."""
    read_only, _ = issue_access_token(user=user, application=application, scope="tasks:read")

    listed = api("GET", "/api/tasks", token=read_only)
    created = api("POST", "/api/tasks", {"title": "Sneaky"}, token=read_only)

    assert listed.status_code == HTTPStatus.OK
    assert created.status_code == HTTPStatus.FORBIDDEN
    assert created["WWW-Authenticate"].startswith('Bearer realm="api",error="insufficient_scope",scope="tasks:write"')
    body = created.json()
    assert body["error"] == "insufficient_scope"
    assert body["scope"] == "tasks:write"
    assert body["detail"]
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/tasks/{id}", {"title": "x"}),
        ("DELETE", "/api/tasks/{id}", None),
        ("POST", "/api/tasks/{id}/complete", None),
    ],
)
def test_a_read_token_cannot_change_a_task(api, user, application, method, path, body):
    task = TaskFactory(owner=user, title="Unchanged")
    read_only, _ = issue_access_token(user=user, application=application, scope="tasks:read")

    response = api(method, path.format(id=task.public_id), body, token=read_only)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["scope"] == "tasks:write"
    task.refresh_from_db()
    assert (task.title, task.status) == ("Unchanged", "todo")


@pytest.mark.parametrize("path", ["/api/tasks", "/api/me"])
def test_a_write_only_token_cannot_read(api, user, application, path):
    write_only, _ = issue_access_token(user=user, application=application, scope="tasks:write")

    response = api("GET", path, token=write_only)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["scope"] == "tasks:read"


def test_a_token_without_task_scopes_cannot_read(api, user, application):
    openid_only, _ = issue_access_token(user=user, application=application, scope="openid profile")

    assert api("GET", "/api/tasks", token=openid_only).status_code == HTTPStatus.FORBIDDEN


# --- The browser session (for the docs page) -------------------------------------------


def test_a_logged_in_person_can_use_the_api_from_the_browser_with_the_csrf_token(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    csrf = browser.get("/api/docs").cookies["csrftoken"].value

    listed = browser.get("/api/tasks")
    created = browser.post(
        "/api/tasks", {"title": "From the docs page"}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    me = browser.get("/api/me").json()

    assert listed.status_code == HTTPStatus.OK
    assert created.status_code == HTTPStatus.CREATED
    assert me["email"] == user.email
    assert me["scopes"] == ["tasks:read", "tasks:write"]


def test_a_session_write_without_the_csrf_token_is_refused(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post("/api/tasks", {"title": "Forged"}, content_type="application/json")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Task.objects.exists()


# --- Bad input: 400 naming the field, nothing written, never a 500 ---------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "  " + "x" * 199}, "title"),  # 201 characters as sent: the schema says maxLength 200
        ({"title": ["a", "list"]}, "title"),
        ({"title": 42}, "title"),
        ({"title": True}, "title"),
        ({"title": {"an": "object"}}, "title"),
        ({"title": "nul \x00 byte"}, "title"),
        ({"title": "ok", "notes": "n" * 10_001}, "notes"),
        ({"title": "ok", "notes": 12}, "notes"),
        ({"title": "ok", "status": "finished"}, "status"),
        ({"title": "ok", "status": ["todo"]}, "status"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "due_at": "2026-05-01T17:00:00"}, "due_at"),
        ({"title": "ok", "due_at": "2026-05-01"}, "due_at"),
        ({"title": "ok", "due_at": "next friday"}, "due_at"),
        ({"title": "ok", "due_at": 1777647600}, "due_at"),
        ({"title": "ok", "due_at": "0001-01-01T00:00:00+01:00"}, "due_at"),
        ({"title": "ok", "idempotency_key": ""}, "idempotency_key"),
        ({"title": "ok", "idempotency_key": 7}, "idempotency_key"),
        ({"title": "ok", "idempotency_key": "k" * 101}, "idempotency_key"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": "ok", "completed_at": "2026-05-01T17:00:00Z"}, "completed_at"),
        ({"title": "ok", "id": "00000000-0000-0000-0000-000000000000"}, "id"),
    ],
)
def test_create_refuses_bad_input_naming_the_field_and_writes_nothing(api, body, field):
    response = api("POST", "/api/tasks", body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    data = response.json()
    assert data["error"] == "invalid_request"
    assert field in data["fields"], data
    assert all(isinstance(message, str) and message for message in data["fields"][field])
    assert f"`{field}`" in data["detail"]
    assert not Task.objects.exists()


def test_create_reports_every_bad_field_at_once(api):
    response = api("POST", "/api/tasks", {"title": "", "priority": "urgent", "colour": "red"})

    assert set(response.json()["fields"]) == {"title", "priority", "colour"}


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ("{not json", "application/json", HTTPStatus.BAD_REQUEST),
        ("", "application/json", HTTPStatus.BAD_REQUEST),
        ("[1, 2]", "application/json", HTTPStatus.BAD_REQUEST),
        ('"a string"', "application/json", HTTPStatus.BAD_REQUEST),
        ("null", "application/json", HTTPStatus.BAD_REQUEST),
        ("title=form+encoded", "application/x-www-form-urlencoded", HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
        ("<task/>", "application/xml", HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    ],
)
def test_create_refuses_a_body_that_is_not_a_json_object(api, raw, content_type, status):
    response = api("POST", "/api/tasks", raw, content_type=content_type)

    assert response.status_code == status
    assert response.json()["error"] in {"invalid_request", "unsupported_media_type"}
    assert response.json()["detail"]
    assert not Task.objects.exists()


def test_a_body_over_djangos_upload_limit_gets_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api("POST", "/api/tasks", {"title": "ok", "notes": "n" * 2000})

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["error"] == "payload_too_large"
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": None},
        {"status": "finished"},
        {"due_at": "2026-05-01T17:00:00"},
        {"idempotency_key": "late"},
        {"title": "Changed", "priority": "urgent"},
        {"title": "Changed", "completed_at": None},
    ],
)
def test_update_refuses_bad_input_and_changes_nothing(api, user, body):
    task = TaskFactory(owner=user, title="Unchanged")

    response = api("PATCH", f"/api/tasks/{task.public_id}", body)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    task.refresh_from_db()
    assert task.title == "Unchanged"
    assert task.status == "todo"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=finished", "status"),
        ("status=todo,nope", "status"),
        ("due_before=2026-05-01T00:00:00", "due_before"),
        ("due_after=yesterday", "due_after"),
        ("ordering=title", "ordering"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("q=" + "x" * 201, "q"),
        ("q=nul%00byte", "q"),
        ("due_before=", "due_before"),
        ("status=", "status"),
        ("status=todo,", "status"),
        ("limit=", "limit"),
        ("ordering=", "ordering"),
        ("cursor=", "cursor"),
    ],
)
def test_list_refuses_bad_parameters_naming_them(api, query, field):
    response = api("GET", f"/api/tasks?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()["fields"]


def test_every_error_answer_is_json(api):
    for response in (
        api("GET", "/api/tasks", token=None),
        api("GET", "/api/tasks/nope"),
        api("PUT", "/api/tasks", json.dumps({"title": "x"})),
        api("POST", "/api/tasks", "{"),
    ):
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) >= {"error", "detail"}


def test_no_list_page_passes_a_gpt_actions_response_limit_even_with_maximal_notes(api, user):
    """GPT Actions fail on responses of more than about 100,000 characters: a page ends early, with
    next_cursor, and following the cursors gives every task once."""
    from tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH

    for number in range(30):
        title = f"{number:02d}" + "t" * (TITLE_MAX_LENGTH - 2)
        Task.objects.create(owner=user, title=title, notes='"\n' * (NOTES_MAX_LENGTH // 2))
    seen, url, pages = [], "/api/tasks?limit=100", 0
    while url:
        response = api("GET", url)
        assert response.status_code == HTTPStatus.OK
        assert len(response.content.decode()) < 100_000
        body = response.json()
        seen += [task["title"][:2] for task in body["results"]]
        url = body["next"] and body["next"].removeprefix("http://127.0.0.1:8000")
        pages += 1

    assert sorted(seen) == [f"{number:02d}" for number in range(30)]
    assert pages > 1
