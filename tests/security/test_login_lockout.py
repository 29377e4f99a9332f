"""Login lockout (django-axes): after N failures for one account or from one address, a clear refusal with a time.

OWASP ASVS 2.2.1: "anti-automation controls are effective at mitigating
breached credential testing, brute force, and account lockout attacks".
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def attempt(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_the_failure_limit_the_account_is_locked_with_a_message_and_a_time(client, user, password, settings):
    """ASVS 2.2.1: after AXES_FAILURE_LIMIT wrong passwords the account is refused, even with the right one."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, user.email, "wrong").status_code == HTTPStatus.OK

    locked = attempt(client, user.email, "wrong")
    after = attempt(client, user.email, password)

    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert after.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = after.content.decode()
    assert "Too many failed logins" in page
    assert "paused for 15 minutes" in page
    assert after["Retry-After"] == str(15 * 60)
    assert "_auth_user_id" not in client.session


def test_an_account_is_locked_whatever_the_address_and_the_case_of_its_email(client, user, password, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, user.email.upper() if number % 2 else user.email, "wrong", address=f"198.51.100.{number + 1}")

    response = attempt(client, user.email, password, address="192.0.2.200")

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_an_address_is_locked_whatever_the_account_it_tries(client, user, password, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"someone{number}@example.com", "wrong")

    response = attempt(client, user.email, password)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert attempt(client, user.email, password, address="192.0.2.1").status_code == HTTPStatus.FOUND


def test_failures_are_recorded_and_a_success_before_the_limit_resets_them(client, user, password, settings):
    from axes.models import AccessAttempt

    attempt(client, user.email, "wrong")
    assert AccessAttempt.objects.filter(username=user.email.lower()).get().failures_since_start == 1

    assert attempt(client, user.email, password).status_code == HTTPStatus.FOUND
    assert not AccessAttempt.objects.filter(username=user.email.lower()).exists()


def test_the_lockout_is_logged_as_a_warning_without_the_password(client, user, settings, caplog):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, user.email, "hunter2-wrong-password")

    attempt(client, user.email, "hunter2-wrong-password")

    assert any("locked out" in record.getMessage().lower() for record in caplog.records)
    assert "hunter2-wrong-password" not in caplog.text


def test_a_lockout_is_written_to_the_audit_log_with_the_account_and_the_address(client, user, settings):
    """Issue 7: "a lockout with a clear message and a time ..., logged in the audit log"."""
    from idp.audit import AuditEvent

    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, user.email.upper(), "wrong", address="203.0.113.9")
    attempt(client, user.email, "wrong", address="203.0.113.9")

    lockouts = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOGIN_LOCKED_OUT).order_by("id")
    assert lockouts.count() == 2, "the attempt that reached the limit, then the one refused during the lockout"
    event = lockouts.first()
    assert event.user == user
    assert str(event.ip_address) == "203.0.113.9"
    assert event.details == {
        "email": user.email.lower(),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": 15,
    }


def test_a_lockout_of_an_address_trying_unknown_accounts_is_recorded_without_a_user(client, settings):
    from idp.audit import AuditEvent

    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"nobody{number}@example.com", "wrong", address="198.51.100.77")

    event = AuditEvent.objects.get(kind=AuditEvent.Kind.LOGIN_LOCKED_OUT)
    assert event.user is None
    assert str(event.ip_address) == "198.51.100.77"
    assert event.details["email"] == f"nobody{settings.AXES_FAILURE_LIMIT - 1}@example.com"
