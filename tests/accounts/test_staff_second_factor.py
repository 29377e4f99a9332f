"""REQUIRE_2FA_FOR_STAFF: the admin only for staff whose session passed a second factor."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory
from tests.fixtures import PASSWORD, totp_of, verify_second_factor


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


def test_the_gate_is_on_outside_debug(settings):
    assert settings.REQUIRE_2FA_FOR_STAFF is True


def test_staff_without_a_second_factor_cannot_reach_an_admin_page_and_are_led_to_set_one_up(client, staff):
    client.force_login(staff)

    response = client.get("/admin/idp/application/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/account/security"
    assert client.get("/admin/").status_code == HTTPStatus.FOUND


def test_staff_with_a_factor_their_session_did_not_give_are_asked_for_it_then_let_in(client, staff):
    device = TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=True)
    # The admin's own password form logs in without our second step.
    client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})

    response = client.get("/admin/idp/application/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/accounts/login/verify/?next=%2Fadmin%2Fidp%2Fapplication%2F"
    done = client.post(response["Location"], {"code": totp_of(device).now()})
    assert done["Location"] == "/admin/idp/application/"
    assert client.get("/admin/idp/application/").status_code == HTTPStatus.OK


def test_staff_whose_session_passed_a_second_factor_reach_the_admin(client, staff):
    client.force_login(staff)
    verify_second_factor(client, staff)

    assert client.get("/admin/idp/application/").status_code == HTTPStatus.OK


def test_people_who_are_not_staff_are_not_concerned(logged_in_client):
    assert logged_in_client.get("/account").status_code == HTTPStatus.OK


def test_with_the_gate_off_staff_reach_the_admin_with_a_password_alone(client, staff, settings):
    settings.REQUIRE_2FA_FOR_STAFF = False
    client.force_login(staff)

    assert client.get("/admin/idp/application/").status_code == HTTPStatus.OK


def test_the_admin_login_page_stays_open(client, staff):
    client.force_login(staff)

    response = client.get("/admin/login/")

    # The admin's login page sends a logged-in member on to the admin, where the gate is.
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
