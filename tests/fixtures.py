"""Shared fixtures, imported by tests/conftest.py.

Nothing here imports Django models at module level: this module is imported
before tests/conftest.py has loaded the settings.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

import pytest

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a test fixture, not a secret


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def other_user(db):
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def application(db):
    """A confidential app that requires PKCE, with `client_secret_plain`."""
    from tests.factories import ApplicationFactory

    return ApplicationFactory()


@pytest.fixture
def public_application(db):
    from idp.models import Application
    from tests.factories import ApplicationFactory

    return ApplicationFactory(client_type=Application.CLIENT_PUBLIC, client_secret="", name="A public app")


@pytest.fixture
def admin_client(client, db):
    """Replaces pytest-django's fixture of that name, which does not fit our user model.

    An admin as REQUIRE_2FA_FOR_STAFF (on in the tests, as outside debug)
    wants one: with an authenticator app, in a session that gave a code from it.
    """
    from tests.factories import UserFactory

    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    verify_second_factor(client, admin)
    return client


def verify_second_factor(client, user):
    """Give `user` an authenticator app and mark the client's session as having passed it,
    as the second-factor page does (django_otp.login)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def token_cache_live():
    """This process's verified-token cache serving, as in a server process that listens
    (idp.token_cache), but with no listening thread: a test delivers the notices itself."""
    from idp import token_cache

    token_cache.cache.go_live(heard_for=3600)
    yield token_cache.cache
    token_cache.cache.go_dark()


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a 43-128 character verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def issue_access_token(*, user, application, scope: str, resource: list[str] | None = None, expires_in: int = 3600):
    """Mint an access token as the token endpoint would; returns (raw token, model)."""
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, set_token_value

    raw = secrets.token_urlsafe(30)
    token = get_access_token_model()(
        user=user,
        application=application,
        scope=scope,
        resource=resource or [],
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(token, raw)
    token.save()
    return raw, token


def mcp_token(user, application, scope: str = "tasks:read tasks:write", resource: list[str] | None = None, **kwargs):
    """A raw access token for /mcp (its audience the MCP endpoint, unless `resource` says otherwise)."""
    from django.conf import settings

    raw, _ = issue_access_token(
        user=user,
        application=application,
        scope=scope,
        resource=[settings.MCP_RESOURCE_URL] if resource is None else resource,
        **kwargs,
    )
    return raw


def totp_of(device):
    """The codes of a TOTP device, as the person's authenticator app shows them."""
    import pyotp

    return pyotp.TOTP(base64.b32encode(device.bin_key).decode())


def password_step(client, user, password, next_url=""):
    """The login form's first step: email and password."""
    return client.post("/accounts/login/", {"username": user.email, "password": password, "next": next_url})


def add_form(**overrides) -> dict[str, str]:
    """The admin's "add connected app" form, filled in for a GPT Action; `overrides` change fields."""
    from idp.models import Application

    data = {
        "name": "Admin-made GPT",
        "description": "",
        "homepage_url": "",
        "logo_url": "",
        "is_enabled": "on",
        "client_type": Application.CLIENT_CONFIDENTIAL,
        "redirect_uris": "https://chatgpt.com/aip/g-1/oauth/callback https://chat.openai.com/aip/g-1/oauth/callback",
        "post_logout_redirect_uris": "",
        "allowed_scopes": "tasks:read tasks:write",
        "require_pkce_if_confidential": "",
        "first_party": "",
        "allowed_origins": "",
        "user": "",
    }
    data.update(overrides)
    return data
