"""Apps that clients registered themselves: listed apart in the admin, disabled there, pruned when unused."""

from __future__ import annotations

import io
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from idp.models import Application
from tests.factories import ApplicationFactory, UserFactory
from tests.fixtures import issue_access_token, verify_second_factor
from tests.oauth_flow import authorization_code, token_request

pytestmark = pytest.mark.django_db

DCR = Application.RegistrationSource.DCR
CIMD = Application.RegistrationSource.CIMD
REDIRECT_URI = "https://client.example.com/callback"


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    verify_second_factor(client, staff)  # REQUIRE_2FA_FOR_STAFF
    return client


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def test_the_admin_lists_self_registered_apps_apart_from_hand_made_ones(staff_client):
    ApplicationFactory(name="Made by hand")
    ApplicationFactory(name="Registered by DCR", registration_source=DCR)
    ApplicationFactory(name="Described by a document", registration_source=CIMD, client_id="https://c.example/doc")

    hand_made = staff_client.get("/admin/idp/application/")
    self_registered = staff_client.get("/admin/idp/selfregisteredapplication/")

    assert hand_made.status_code == self_registered.status_code == HTTPStatus.OK
    assert "Made by hand" in hand_made.text
    assert "Registered by DCR" not in hand_made.text
    assert "Registered by DCR" in self_registered.text
    assert "Described by a document" in self_registered.text
    assert "Made by hand" not in self_registered.text


def test_an_admin_disables_self_registered_apps(staff_client):
    app = ApplicationFactory(registration_source=DCR)

    response = staff_client.post(
        "/admin/idp/selfregisteredapplication/", {"action": "disable", "_selected_action": [app.pk]}
    )

    assert response.status_code == HTTPStatus.FOUND
    app.refresh_from_db()
    assert not app.is_enabled


def test_an_admin_cannot_add_a_self_registered_app_by_hand(staff_client):
    response = staff_client.get("/admin/idp/selfregisteredapplication/add/")

    assert response.status_code == HTTPStatus.FORBIDDEN


def test_getting_a_token_records_when_the_app_was_last_used(logged_in_client, application):
    code, verifier = authorization_code(logged_in_client, client_id=application.client_id, redirect_uri=REDIRECT_URI)
    before = timezone.now()

    response = token_request(
        logged_in_client,
        application,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )

    assert response.status_code == HTTPStatus.OK
    application.refresh_from_db()
    assert application.last_used_at >= before


def test_pruning_deletes_self_registered_apps_unused_for_the_given_days_with_their_tokens(user):
    stale = ApplicationFactory(registration_source=DCR)
    Application.objects.filter(pk=stale.pk).update(last_used_at=days_ago(40), created=days_ago(100))
    issue_access_token(user=user, application=stale, scope="tasks:read")
    never_used = ApplicationFactory(registration_source=CIMD, client_id="https://c.example/old")
    Application.objects.filter(pk=never_used.pk).update(created=days_ago(31))
    recently_used = ApplicationFactory(registration_source=DCR)
    Application.objects.filter(pk=recently_used.pk).update(last_used_at=days_ago(5), created=days_ago(100))
    just_registered = ApplicationFactory(registration_source=DCR)
    hand_made = ApplicationFactory()
    Application.objects.filter(pk=hand_made.pk).update(created=days_ago(400))

    out = io.StringIO()
    call_command("prune_self_registered_apps", "--unused-days", "30", stdout=out)

    assert "Deleted 2 self-registered app(s) unused for 30 days." in out.getvalue()
    assert set(Application.objects.values_list("pk", flat=True)) == {
        recently_used.pk,
        just_registered.pk,
        hand_made.pk,
    }
    assert not get_access_token_model().objects.exists()


def test_each_pruned_app_is_an_event_in_the_audit_log():
    from idp.audit import AuditEvent

    stale = ApplicationFactory(registration_source=DCR, name="Old MCP client")
    other = ApplicationFactory(registration_source=DCR, name="Older MCP client")
    Application.objects.filter(pk__in=[stale.pk, other.pk]).update(created=days_ago(100))

    call_command("prune_self_registered_apps", "--unused-days", "30", stdout=io.StringIO())

    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.APP_DELETED)
    labels = sorted(events.values_list("application_label", flat=True))
    assert [label.split(" (")[0] for label in labels] == ["Old MCP client", "Older MCP client"]
    assert all("unused for 30 days" in event.details["reason"] for event in events)


@pytest.mark.parametrize("days", ["0", "-3"])
def test_pruning_refuses_fewer_than_one_day_and_deletes_nothing(days):
    app = ApplicationFactory(registration_source=DCR)
    Application.objects.filter(pk=app.pk).update(created=days_ago(400))

    with pytest.raises(CommandError, match="Nothing was deleted. Keep apps at least one day"):
        call_command("prune_self_registered_apps", "--unused-days", days)

    assert Application.objects.filter(pk=app.pk).exists()
