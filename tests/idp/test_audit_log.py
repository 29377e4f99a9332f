"""The audit log: security events recorded where they happen, never with a secret in them."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from idp.audit import AuditEvent, audit_prune, audit_record
from idp.models import Application
from idp.services.apps import application_create
from tests.fixtures import add_form, issue_access_token, pkce_pair
from tests.oauth_flow import authorize_url, basic, consent_form_data, exchange, obtain_code

Kind = AuditEvent.Kind
# The management form of the change page's token inline, with no rows.
NO_TOKEN_ROWS = {"accesstoken_set-TOTAL_FORMS": "0", "accesstoken_set-INITIAL_FORMS": "0"}


def kinds() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("kind", flat=True))


def everything_stored() -> str:
    """Every audit row as text, to search for values that must never be there."""
    return repr(list(AuditEvent.objects.values()))


def test_a_password_login_is_recorded_with_the_address_and_a_truncated_user_agent(client, user, password):
    response = client.post(
        "/accounts/login/",
        {"username": user.email, "password": password},
        HTTP_USER_AGENT="Browser/1.0 " + "x" * 500,
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == HTTPStatus.FOUND
    event = AuditEvent.objects.get()
    assert event.kind == Kind.LOGIN_SUCCEEDED
    assert event.user == user
    assert event.user_label == user.email
    assert event.ip_address == "203.0.113.7"
    assert event.user_agent.startswith("Browser/1.0 ")
    assert len(event.user_agent) == 300
    assert event.details == {"method": "password"}


def test_a_failed_login_is_recorded_with_the_email_tried_and_never_the_password(client, user):
    wrong = "not-the-password-Zq81"

    client.post("/accounts/login/", {"username": user.email.upper(), "password": wrong})

    event = AuditEvent.objects.get()
    assert event.kind == Kind.LOGIN_FAILED
    assert event.user == user
    assert event.details["email"] == user.email
    assert wrong not in everything_stored()


@pytest.mark.django_db
def test_a_failed_login_for_an_unknown_email_is_recorded_without_a_user(client):
    client.post("/accounts/login/", {"username": "nobody@example.com", "password": "whatever-it-was"})

    event = AuditEvent.objects.get()
    assert event.kind == Kind.LOGIN_FAILED
    assert event.user is None
    assert event.details["email"] == "nobody@example.com"
    assert "whatever-it-was" not in everything_stored()


def test_allowing_and_denying_on_the_consent_page_are_recorded(logged_in_client, user, application):
    for decision in ({"allow": "Authorize"}, {"deny": "1"}):
        page = logged_in_client.get(authorize_url(application, scope="openid tasks:read"))
        logged_in_client.post("/idp", {**consent_form_data(page), **decision})

    given, denied = AuditEvent.objects.filter(kind__in=[Kind.CONSENT_GIVEN, Kind.CONSENT_DENIED]).order_by("id")
    assert (given.kind, denied.kind) == (Kind.CONSENT_GIVEN, Kind.CONSENT_DENIED)
    assert given.user == user
    assert given.application == application
    assert given.details == {"scope": "openid tasks:read"}


def test_a_token_issued_is_recorded_with_grant_and_scope_but_no_token_value(logged_in_client, user, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, scope="openid tasks:read", challenge=challenge)

    tokens = exchange(logged_in_client, application, code, verifier).json()

    event = AuditEvent.objects.get(kind=Kind.TOKEN_ISSUED)
    assert event.user == user
    assert event.application == application
    assert event.details["grant_type"] == "authorization_code"
    assert event.details["scope"] == "openid tasks:read"
    stored = everything_stored()
    for value in (tokens["access_token"], tokens["refresh_token"], tokens["id_token"], code, verifier):
        assert value not in stored
    assert application.client_secret_plain not in stored


def test_refresh_token_reuse_is_recorded_once_when_it_revokes_the_family(logged_in_client, client, user, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    first = exchange(logged_in_client, application, code, verifier).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    rotated = client.post("/idp/token", refresh, HTTP_AUTHORIZATION=basic(application)).json()
    # Past the grace period, as a thief's replay would be.
    from oauth2_provider.models import get_refresh_token_model

    get_refresh_token_model().objects.filter(revoked__isnull=False).update(revoked=timezone.now() - timedelta(hours=1))

    replay = client.post("/idp/token", refresh, HTTP_AUTHORIZATION=basic(application))
    again = client.post("/idp/token", refresh, HTTP_AUTHORIZATION=basic(application))

    assert replay.status_code == again.status_code == HTTPStatus.BAD_REQUEST
    reuse = AuditEvent.objects.get(kind=Kind.REFRESH_TOKEN_REUSED)
    assert reuse.user == user
    assert reuse.application == application
    after_rotation = client.post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application),
    )
    assert after_rotation.status_code == HTTPStatus.BAD_REQUEST, "the family was revoked"
    assert first["refresh_token"] not in everything_stored()
    assert rotated["refresh_token"] not in everything_stored()


def test_a_client_revoking_its_token_is_recorded_for_the_tokens_owner(client, user, application):
    raw, _ = issue_access_token(user=user, application=application, scope="openid")

    response = client.post("/idp/revoke", {"token": raw}, HTTP_AUTHORIZATION=basic(application))

    assert response.status_code == HTTPStatus.OK
    event = AuditEvent.objects.get(kind=Kind.TOKEN_REVOKED)
    assert event.user == user
    assert event.application == application
    assert raw not in everything_stored()


def test_revoking_an_unknown_token_records_nothing(client, application):
    client.post("/idp/revoke", {"token": "no-such-token"}, HTTP_AUTHORIZATION=basic(application))

    assert not AuditEvent.objects.filter(kind=Kind.TOKEN_REVOKED).exists()


@pytest.mark.django_db
def test_an_app_created_by_the_service_is_recorded_without_its_secret():
    issued = application_create(name="Audited", redirect_uris=["https://client.example.com/cb"])

    event = AuditEvent.objects.get()
    assert event.kind == Kind.APP_CREATED
    assert event.application == issued.application
    assert event.application_label == f"Audited ({issued.client_id})"
    assert event.details == {"source": "manual"}
    assert issued.client_secret not in everything_stored()


@pytest.mark.django_db
def test_an_app_registered_by_a_client_itself_is_recorded_as_registered_dynamically():
    application_create(
        name="Self-made",
        redirect_uris=["http://127.0.0.1:6276/callback"],
        public=True,
        registration_source=Application.RegistrationSource.DCR,
    )

    assert kinds() == [Kind.APP_REGISTERED]
    assert AuditEvent.objects.get().details == {"source": "dcr"}


def test_admin_creation_changes_rotation_and_disabling_are_recorded_with_the_admin(admin_client, application):
    admin_client.post("/admin/idp/application/add/", add_form())
    created = Application.objects.get(name="Admin-made GPT")
    change = {**add_form(name="Renamed GPT", is_enabled=""), **NO_TOKEN_ROWS}
    admin_client.post(f"/admin/idp/application/{created.pk}/change/", change)
    admin_client.post("/admin/idp/application/", {"action": "rotate_secret", "_selected_action": [application.pk]})
    admin_client.post("/admin/idp/application/", {"action": "disable", "_selected_action": [application.pk]})

    events = list(AuditEvent.objects.exclude(kind=Kind.LOGIN_SUCCEEDED).order_by("id"))
    assert [(event.kind, event.application_id) for event in events] == [
        (Kind.APP_CREATED, created.pk),
        (Kind.APP_CHANGED, created.pk),
        (Kind.APP_DISABLED, created.pk),
        (Kind.APP_CHANGED, application.pk),
        (Kind.APP_DISABLED, application.pk),
    ]
    assert sorted(events[1].details["changed"]) == ["is_enabled", "name"]
    assert events[3].details["changed"] == ["secret rotated"]
    assert all(event.user is not None and event.user.is_staff for event in events)


def test_disabling_an_app_already_disabled_records_nothing_more(admin_client, application):
    for _ in range(2):
        admin_client.post("/admin/idp/application/", {"action": "disable", "_selected_action": [application.pk]})

    assert AuditEvent.objects.filter(kind=Kind.APP_DISABLED).count() == 1


def test_an_admin_revoking_all_tokens_is_recorded_with_the_count(admin_client, user, application):
    issue_access_token(user=user, application=application, scope="openid")

    admin_client.post("/admin/idp/application/", {"action": "revoke_all_tokens", "_selected_action": [application.pk]})

    event = AuditEvent.objects.get(kind=Kind.TOKEN_REVOKED)
    assert event.details["count"] == 1
    assert event.details["everyone"] is True


@pytest.mark.django_db
def test_details_whose_names_are_credentials_are_dropped_and_long_values_cut():
    event = audit_record(
        kind=Kind.LOGIN_FAILED,
        password="hunter2",
        client_secret="s3cret",
        access_token="abc",
        code_verifier="v",
        note="n" * 1000,
    )

    assert event.details == {"note": "n" * 200}


@pytest.mark.django_db
def test_an_address_that_is_not_an_ip_is_not_stored(rf):
    event = audit_record(kind=Kind.LOGIN_FAILED, request=rf.get("/", REMOTE_ADDR="unix:socket"))

    assert event.ip_address is None


@pytest.mark.django_db
def test_pruning_deletes_only_the_events_older_than_the_retention():
    old = audit_record(kind=Kind.LOGIN_FAILED)
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    recent = audit_record(kind=Kind.LOGIN_FAILED)
    AuditEvent.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=89))

    assert audit_prune(older_than_days=90) == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.django_db
def test_the_prune_command_uses_audit_retention_days(settings, capsys):
    settings.AUDIT_RETENTION_DAYS = 5
    event = audit_record(kind=Kind.LOGIN_FAILED)
    AuditEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=6))

    call_command("prune_audit_log", "--days", str(settings.AUDIT_RETENTION_DAYS))

    assert not AuditEvent.objects.exists()
    assert "Deleted 1 audit event(s) older than 5 day(s)." in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["0", "-3", "ninety", "1.5"])
def test_the_prune_command_refuses_a_bad_number_of_days_and_deletes_nothing(days):
    event = audit_record(kind=Kind.LOGIN_FAILED)
    AuditEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=400))

    with pytest.raises(CommandError, match="Nothing was deleted"):
        call_command("prune_audit_log", "--days", days)

    assert AuditEvent.objects.count() == 1


def test_the_audit_log_in_the_admin_is_read_only_and_filters_by_kind_user_and_app(admin_client, user, application):
    audit_record(kind=Kind.LOGIN_FAILED, user=user)
    audit_record(kind=Kind.TOKEN_ISSUED, user=user, application=application)
    event = audit_record(kind=Kind.APP_CREATED, application=application)

    by_kind = admin_client.get("/admin/idp/auditevent/", {"kind__exact": "token_issued"})
    by_user = admin_client.get("/admin/idp/auditevent/", {"user__id__exact": user.pk})
    by_app = admin_client.get("/admin/idp/auditevent/", {"application__id__exact": application.pk})
    change = admin_client.post(f"/admin/idp/auditevent/{event.pk}/change/", {"kind": "login_failed"})
    delete = admin_client.post(f"/admin/idp/auditevent/{event.pk}/delete/", {"post": "yes"})
    add = admin_client.get("/admin/idp/auditevent/add/")

    assert [row.kind for row in by_kind.context["cl"].result_list] == [Kind.TOKEN_ISSUED]
    assert {row.kind for row in by_user.context["cl"].result_list} == {Kind.LOGIN_FAILED, Kind.TOKEN_ISSUED}
    assert {row.kind for row in by_app.context["cl"].result_list} == {Kind.TOKEN_ISSUED, Kind.APP_CREATED}
    assert change.status_code == HTTPStatus.FORBIDDEN
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert add.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.get(pk=event.pk).kind == Kind.APP_CREATED


def test_the_audit_retention_setting_refuses_a_bad_value_with_a_sentence():
    from tests.test_settings import manage

    for value in ("0", "soon"):
        result = manage("check", DJANGO_DEBUG="1", AUDIT_RETENTION_DAYS=value)

        assert result.returncode != 0
        assert "AUDIT_RETENTION_DAYS must be a whole number of at least 1" in result.stderr


def test_a_replayed_authorization_code_is_recorded(logged_in_client, client, application):
    verifier, challenge = pkce_pair()
    code = obtain_code(logged_in_client, application, challenge=challenge)
    exchange(client, application, code, verifier)

    replay = exchange(client, application, code, verifier)

    assert replay.status_code == HTTPStatus.BAD_REQUEST
    event = AuditEvent.objects.get(kind=Kind.CODE_REPLAYED)
    assert event.application == application
    assert code not in everything_stored()


@pytest.mark.django_db
def test_adding_a_gpt_callback_is_recorded_as_an_app_change():
    from idp.services.gpt_actions import application_add_gpt_action_callback, application_create_for_gpt_action

    issued = application_create_for_gpt_action(name="Tasks GPT")

    application_add_gpt_action_callback(
        application=issued.application, callback_url="https://chatgpt.com/aip/g-abc/oauth/callback"
    )

    assert kinds() == [Kind.APP_CREATED, Kind.APP_CHANGED]
    assert AuditEvent.objects.get(kind=Kind.APP_CHANGED).details == {"changed": ["redirect_uris"]}


def test_the_audit_log_module_imports_nothing_of_the_provider():
    """accounts writes the audit log: idp.audit must not pull django-oauth-toolkit (or idp.models) in."""
    import ast
    from pathlib import Path

    import idp.audit

    tree = ast.parse(Path(idp.audit.__file__).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith(("oauth2_provider", "oauthlib", "idp"))]
