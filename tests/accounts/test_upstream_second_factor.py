"""Upstream logins and our second factor: skipped (the upstream is trusted for its own)
unless UPSTREAM_OIDC_REQUIRE_LOCAL_2FA=1."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.fixtures import totp_of
from tests.upstream import NEXT, upstream_login

pytestmark = pytest.mark.django_db


def linked_person_with_an_app(client, fake_upstream) -> TOTPDevice:
    upstream_login(client, fake_upstream)
    client.logout()
    return TOTPDevice.objects.create(user=User.objects.get(), name="Authenticator app", confirmed=True)


def test_an_upstream_login_skips_our_second_factor_by_default(client, upstream_settings, fake_upstream):
    linked_person_with_an_app(client, fake_upstream)

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == NEXT
    assert "_auth_user_id" in client.session


def test_with_local_2fa_required_an_upstream_login_waits_for_our_second_factor(
    client, upstream_settings, fake_upstream, settings
):
    settings.UPSTREAM_OIDC_REQUIRE_LOCAL_2FA = True
    device = linked_person_with_an_app(client, fake_upstream)

    response = upstream_login(client, fake_upstream)

    assert response["Location"] == "/accounts/login/verify/"
    assert "_auth_user_id" not in client.session
    done = client.post("/accounts/login/verify/", {"code": totp_of(device).now()})
    assert done.status_code == HTTPStatus.FOUND
    assert done["Location"] == NEXT
    assert client.session["_auth_user_id"] == str(device.user_id)
    assert client.session["accounts.authentication"]["amr"] == ["otp"]
