"""Passkeys on /account/security: what our rules add to django-otp-webauthn's ceremonies
(the ceremonies themselves run in a browser: tests/e2e/test_browser_passkeys.py)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django_otp_webauthn.models import WebAuthnCredential

from idp.audit import AuditEvent

BEGIN = "/accounts/passkeys/registration/begin/"


@pytest.fixture
def passkeys_on(settings):
    settings.PASSKEYS_ENABLED = True
    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = True


def passkey_of(user, name="Phone") -> WebAuthnCredential:
    return WebAuthnCredential.objects.create(
        user=user,
        name=name,
        confirmed=True,
        credential_id=b"credential-" + name.encode(),
        public_key=b"not a real key",
        sign_count=0,
    )


def test_adding_a_passkey_needs_a_recent_authentication(logged_in_client, passkeys_on):
    response = logged_in_client.post(BEGIN)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "not_recently_authenticated"


def test_after_the_password_again_the_ceremony_asks_for_a_discoverable_credential(
    logged_in_client, password, passkeys_on
):
    logged_in_client.post("/account/security/reauthenticate", {"password": password})

    options = logged_in_client.post(BEGIN).json()

    assert options["challenge"]
    assert options["authenticatorSelection"]["residentKey"] == "required"


def test_where_passkeys_cannot_work_the_ceremonies_say_so(logged_in_client, password):
    logged_in_client.post("/account/security/reauthenticate", {"password": password})

    response = logged_in_client.post(BEGIN)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "passkeys_off"


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"id": 1}', b"\xff"])
def test_a_malformed_ceremony_answer_is_a_4xx_never_a_500(client, db, passkeys_on, body):
    client.post("/accounts/passkeys/authentication/begin/")

    response = client.post("/accounts/passkeys/authentication/complete/", body, content_type="application/json")

    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert "_auth_user_id" not in client.session


def test_a_person_renames_a_passkey_but_not_someone_elses(logged_in_client, user, other_user):
    mine, theirs = passkey_of(user), passkey_of(other_user, "Laptop")

    logged_in_client.post(f"/account/security/passkeys/{mine.pk}/rename", {"name": "  Work   phone "})
    logged_in_client.post(f"/account/security/passkeys/{theirs.pk}/rename", {"name": "Mine now"})
    logged_in_client.post(f"/account/security/passkeys/{mine.pk}/rename", {"name": ""})

    assert WebAuthnCredential.objects.get(pk=mine.pk).name == "Work phone"
    assert WebAuthnCredential.objects.get(pk=theirs.pk).name == "Laptop"


def test_removing_a_passkey_needs_a_recent_authentication_and_is_audited_without_its_key(
    logged_in_client, user, other_user, password
):
    mine, theirs = passkey_of(user), passkey_of(other_user, "Laptop")
    logged_in_client.post(f"/account/security/passkeys/{mine.pk}/remove")
    assert WebAuthnCredential.objects.filter(pk=mine.pk).exists()

    logged_in_client.post("/account/security/reauthenticate", {"password": password})
    logged_in_client.post(f"/account/security/passkeys/{theirs.pk}/remove")
    logged_in_client.post(f"/account/security/passkeys/{mine.pk}/remove")

    assert not WebAuthnCredential.objects.filter(pk=mine.pk).exists()
    assert WebAuthnCredential.objects.filter(pk=theirs.pk).exists()
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.PASSKEY_REMOVED)
    assert event.user == user
    assert event.details == {"device": mine.pk}


def test_the_security_page_lists_passkeys_with_when_added_and_last_used(logged_in_client, user):
    passkey_of(user, "Phone")

    page = logged_in_client.get("/account/security").content.decode()

    assert "Phone" in page
    assert "Added" in page
    assert "Never" in page


def test_a_passkey_always_asks_the_device_to_verify_the_person_even_for_someone_logged_in(
    logged_in_client, passkeys_on
):
    options = logged_in_client.post("/accounts/passkeys/authentication/begin/").json()

    assert options["userVerification"] == "required"


def test_a_passkey_answer_that_fails_at_the_second_step_is_audited_and_logs_nobody_in(
    client, user, password, passkeys_on
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.fixtures import password_step

    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    password_step(client, user, password)
    client.post("/accounts/passkeys/authentication/begin/")

    response = client.post(
        "/accounts/passkeys/authentication/complete/", {"id": "forged"}, content_type="application/json"
    )

    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SECOND_FACTOR_FAILED)
    assert (event.user, event.details) == (user, {"method": "passkey"})
