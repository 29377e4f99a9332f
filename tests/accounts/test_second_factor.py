"""The authenticator app and recovery codes: set-up, the second step after a password, limits, the audit log."""

from __future__ import annotations

import base64
import re
from http import HTTPStatus

import pytest
from django.core import mail
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.second_factor import recovery_codes_make
from idp.audit import AuditEvent
from tests.fixtures import password_step, totp_of


@pytest.fixture
def with_app(user) -> TOTPDevice:
    """The person has an authenticator app (and recovery codes)."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    recovery_codes_make(user=user)
    return device


def test_setting_up_an_app_needs_the_password_again_first(logged_in_client, user):
    response = logged_in_client.post("/account/security/totp/setup")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/account/security"
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_a_wrong_password_does_not_count_as_a_recent_authentication(logged_in_client, user):
    response = logged_in_client.post("/account/security/reauthenticate", {"password": "wrong"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"That is not your password." in response.content
    assert logged_in_client.post("/account/security/totp/setup").status_code == HTTPStatus.FOUND


def test_a_person_sets_up_an_app_with_a_qr_code_and_gets_ten_recovery_codes_shown_once(
    logged_in_client, user, password
):
    logged_in_client.post("/account/security/reauthenticate", {"password": password})

    page = logged_in_client.post("/account/security/totp/setup")

    assert page.status_code == HTTPStatus.OK
    content = page.content.decode()
    assert "<svg" in content  # the QR code, drawn here
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    assert " ".join(key[i : i + 4] for i in range(0, len(key), 4)) in content

    wrong = logged_in_client.post("/account/security/totp/confirm", {"device": device.pk, "code": "000000"})
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed

    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    done = logged_in_client.post("/account/security/totp/confirm", {"device": device.pk, "code": totp_of(device).now()})
    assert done.status_code == HTTPStatus.FOUND
    assert TOTPDevice.objects.get(pk=device.pk).confirmed

    shown = logged_in_client.get("/account/security").content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", shown)
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    again = logged_in_client.get("/account/security").content.decode()
    assert not any(code in again for code in codes)
    assert "10 of 10 recovery codes left" in again

    events = AuditEvent.objects.filter(user=user)
    assert {AuditEvent.Kind.TOTP_ADDED, AuditEvent.Kind.RECOVERY_CODES_CREATED} <= set(
        events.values_list("kind", flat=True)
    )
    stored = str(list(events.values_list("details", flat=True)))
    assert not any(code in stored for code in codes)
    assert key not in stored
    assert device.key not in stored


def test_after_the_password_a_person_with_an_app_is_not_logged_in_until_the_code(client, user, password, with_app):
    next_url = "/idp?client_id=abc&response_type=code"

    response = password_step(client, user, password, next_url)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/login/verify/"
    assert "_auth_user_id" not in client.session
    # No page that needs a login, the consent page included, is reachable meanwhile.
    assert client.get("/account")["Location"].startswith("/accounts/login/")
    assert client.get("/idp", {"client_id": "abc"}).status_code != HTTPStatus.OK

    page = client.get("/accounts/login/verify/")
    assert page.status_code == HTTPStatus.OK
    assert b'autocomplete="one-time-code"' in page.content

    done = client.post("/accounts/login/verify/", {"code": totp_of(with_app).now()})

    assert done.status_code == HTTPStatus.FOUND
    assert done["Location"] == next_url
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session["accounts.authentication"]["amr"] == ["pwd", "otp", "mfa"]


def test_a_code_from_the_app_is_refused_the_second_time(client, user, password, with_app):
    code = totp_of(with_app).now()
    password_step(client, user, password)
    assert client.post("/accounts/login/verify/", {"code": code}).status_code == HTTPStatus.FOUND
    client.logout()

    password_step(client, user, password)
    response = client.post("/accounts/login/verify/", {"code": code})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"used already" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(user=user, kind=AuditEvent.Kind.SECOND_FACTOR_FAILED).count() == 1


def test_a_recovery_code_works_once(client, user, password, with_app):
    code = StaticToken.objects.filter(device__user=user).first().token

    password_step(client, user, password)
    assert client.post("/accounts/login/verify/", {"code": code.upper()}).status_code == HTTPStatus.FOUND
    assert client.session["_auth_user_id"] == str(user.pk)
    assert StaticToken.objects.filter(device__user=user).count() == 9
    assert AuditEvent.objects.filter(user=user, kind=AuditEvent.Kind.RECOVERY_CODE_USED).exists()
    client.logout()

    password_step(client, user, password)
    response = client.post("/accounts/login/verify/", {"code": code})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "_auth_user_id" not in client.session


def test_wrong_codes_lock_the_second_step_like_passwords(client, user, password, with_app, settings):
    password_step(client, user, password)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/accounts/login/verify/", {"code": "123456"}).status_code == HTTPStatus.BAD_REQUEST

    locked = client.post("/accounts/login/verify/", {"code": "123456"})

    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(locked["Retry-After"]) > 0
    assert b"Too many failed logins" in locked.content
    # Even the right code waits until the lockout ends.
    assert client.post("/accounts/login/verify/", {"code": totp_of(with_app).now()}).status_code == (
        HTTPStatus.TOO_MANY_REQUESTS
    )
    assert "_auth_user_id" not in client.session
    failures = AuditEvent.objects.filter(user=user, kind=AuditEvent.Kind.SECOND_FACTOR_FAILED)
    assert failures.count() == settings.AXES_FAILURE_LIMIT
    assert "123456" not in str(list(failures.values_list("details", flat=True)))


@pytest.mark.parametrize("code", ["", " ", "x" * 100, "12345", "1234567", "<script>", "١٢٣٤٥٦"])
def test_bad_codes_are_a_clear_error_never_a_500(client, user, password, with_app, code):
    password_step(client, user, password)

    response = client.post("/accounts/login/verify/", {"code": code})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "_auth_user_id" not in client.session


def test_the_second_step_without_a_password_first_goes_back_to_the_login_page(client, db):
    assert client.get("/accounts/login/verify/")["Location"] == "/accounts/login/"
    assert client.post("/accounts/login/verify/", {"code": "123456"})["Location"] == "/accounts/login/"


def test_a_person_without_a_second_factor_logs_in_with_the_password_alone(client, user, password):
    response = password_step(client, user, password)

    assert response["Location"] == "/"
    assert client.session["accounts.authentication"]["amr"] == ["pwd"]


def test_removing_the_app_needs_a_recent_authentication_and_is_audited(logged_in_client, user, password, with_app):
    assert logged_in_client.post("/account/security/totp/remove")["Location"] == "/account/security"
    assert TOTPDevice.objects.filter(user=user).exists()

    logged_in_client.post("/account/security/reauthenticate", {"password": password})
    logged_in_client.post("/account/security/totp/remove")

    assert not TOTPDevice.objects.filter(user=user).exists()
    # Recovery codes stand in for a factor; with none left they go too.
    assert not StaticDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(user=user, kind=AuditEvent.Kind.TOTP_REMOVED).exists()


def test_new_recovery_codes_replace_the_old_set(logged_in_client, user, password, with_app):
    old = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    logged_in_client.post("/account/security/reauthenticate", {"password": password})

    logged_in_client.post("/account/security/recovery-codes")

    new = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(new) == 10
    assert not old & new


def test_a_confirmation_for_someone_elses_setup_is_refused(logged_in_client, other_user, password):
    theirs = TOTPDevice.objects.create(user=other_user, name="Authenticator app", confirmed=False)
    logged_in_client.post("/account/security/reauthenticate", {"password": password})

    for device in (theirs.pk, "nope", ""):
        response = logged_in_client.post("/account/security/totp/confirm", {"device": device, "code": "123456"})
        assert response.status_code == HTTPStatus.FOUND
    assert not TOTPDevice.objects.get(pk=theirs.pk).confirmed


def test_an_admin_resets_a_persons_factors_and_the_person_is_told(
    admin_client, user, with_app, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/accounts/user/", {"action": "reset_second_factors", "_selected_action": [user.pk]}
        )

    assert response.status_code == HTTPStatus.FOUND
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert [message.to for message in mail.outbox] == [[user.email]]
    assert "reset" in mail.outbox[0].subject
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SECOND_FACTORS_RESET)
    assert event.user == user
