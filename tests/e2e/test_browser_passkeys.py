"""Passkeys and the authenticator app in a real browser: Chromium's virtual WebAuthn
authenticator (through Playwright's CDP session), Authlib as the app, pyotp as the phone.

WebAuthn needs a host name (an IP address cannot be a relying party ID) in a
secure context: the server here is http://localhost, as in development.
"""

from __future__ import annotations

import base64

import pyotp
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.browser import VIEWPORTS, check_page, stay_offline
from tests.fixtures import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]

REDIRECT_URI = "https://client.example.com/callback"


@pytest.fixture(scope="module")
def _localhost_server(django_db_setup, django_db_blocker, workdir):
    from tests.live import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer(host="localhost", log_path=workdir / "passkeys-live-server.log").start()
    yield server
    server.stop()


@pytest.fixture
def site(_localhost_server, transactional_db):
    return _localhost_server


@pytest.fixture
def authlib_env(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def virtual_authenticator(context, page, credentials=()):
    """A platform authenticator with resident keys and user verification, as a phone's,
    holding `credentials` (exported from another one). Returns (CDP session, its id)."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )["authenticatorId"]
    for credential in credentials:
        cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": credential})
    return cdp, authenticator


def age_recent_authentication(context) -> None:
    """Make the browser's last authentication older than RECENT_AUTHENTICATION_SECONDS,
    in its session on the server (the same database)."""
    from importlib import import_module

    from django.conf import settings

    from accounts.second_factor import REAUTHENTICATED_SESSION_KEY

    [cookie] = [cookie for cookie in context.cookies() if cookie["name"] == settings.SESSION_COOKIE_NAME]
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])
    session[REAUTHENTICATED_SESSION_KEY] -= settings.RECENT_AUTHENTICATION_SECONDS + 1
    session.save()


def test_a_person_adds_a_passkey_then_logs_in_with_it_alone_for_an_app_whose_id_token_says_so(
    browser, site, artifacts_dir, authlib_env
):
    from django_otp_webauthn.models import WebAuthnCredential

    from idp.audit import AuditEvent
    from tests.factories import ApplicationFactory, UserFactory

    person = UserFactory()
    app = ApplicationFactory(redirect_uris=REDIRECT_URI, name="Passkey test app")
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(context, page)
    arrived: list[str] = []
    off_site = stay_offline(page, site.url, client_redirect_uri=REDIRECT_URI, arrived=arrived)

    # Log in with the password, then /account → Security.
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/")
    page.goto(f"{site.url}/account")
    page.get_by_role("link", name="Passkeys, authenticator app and recovery codes").click()
    page.wait_for_url(f"{site.url}/account/security")
    check_page(page, artifacts_dir, "security")

    # The login a moment ago counts as a recent authentication: the passkey can be added.
    page.get_by_role("button", name="Add a passkey").click()
    page.locator(".passkey-name").wait_for()
    assert WebAuthnCredential.objects.filter(user=person, discoverable=True).count() == 1
    # The first factor brings ten recovery codes, shown this once.
    assert page.locator(".recovery-codes li").count() == 10
    check_page(page, artifacts_dir, "security-passkey-added")
    page.get_by_label("New name for Passkey 1").fill("Test phone")
    page.get_by_role("button", name="Rename Passkey 1").click()
    page.wait_for_url(f"{site.url}/account/security#passkeys")
    assert page.locator(".passkey-name").inner_text() == "Test phone"
    assert page.locator(".recovery-codes li").count() == 0

    # Ten minutes on, removing it asks for the password or the passkey again.
    age_recent_authentication(context)
    page.goto(f"{site.url}/account/security")
    assert not page.get_by_role("button", name="Remove Test phone").is_visible()
    page.get_by_role("button", name="Confirm with a passkey").wait_for()
    check_page(page, artifacts_dir, "security-confirm")
    page.get_by_role("button", name="Confirm with a passkey").click()
    page.get_by_role("button", name="Remove Test phone").wait_for()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{site.url}/")

    # The app sends the person to /idp; they sign in with the passkey alone.
    metadata = requests.get(f"{site.url}/.well-known/openid-configuration", timeout=10).json()
    oauth = OAuth2Session(
        app.client_id,
        app.client_secret_plain,
        scope="openid email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = "passkey-verifier-" + "v" * 40
    authorization_url, _ = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    # The login page offers the passkey as a button and through the browser's autofill
    # (conditional mediation). Chromium's virtual authenticator answers the autofill
    # request at once, so the page is looked at in a browser without the passkey first.
    bare = browser.new_context(viewport=VIEWPORTS["desktop"])
    look = bare.new_page()
    bare_off_site = stay_offline(look, site.url)
    look.goto(authorization_url)
    look.get_by_role("button", name="Sign in with a passkey").wait_for()
    assert "webauthn" in look.get_by_label("Email").get_attribute("autocomplete")
    check_page(look, artifacts_dir, "login-with-passkey")
    assert not bare_off_site
    bare.close()

    page.goto(authorization_url)
    page.wait_for_url(f"{site.url}/idp?**")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{REDIRECT_URI}?**")

    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=arrived[-1], code_verifier=verifier)
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["sub"] == str(person.sub)
    # A passkey bound to its authenticator (not synced): hardware-secured key, RFC 8176.
    assert claims["amr"] == ["hwk"]
    assert isinstance(claims["auth_time"], int)
    kinds = set(AuditEvent.objects.filter(user=person).values_list("kind", flat=True))
    assert {AuditEvent.Kind.PASSKEY_ADDED, AuditEvent.Kind.RECOVERY_CODES_CREATED} <= kinds
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    passkeys = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    context.close()

    # With the password, the passkey is now the second factor: asked for before the app
    # gets its code. (The passkey joins the authenticator once the password is in, so
    # that the login page's autofill does not log in with the passkey alone.)
    context = browser.new_context(viewport=VIEWPORTS["phone"])
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(context, page)
    arrived.clear()
    off_site = stay_offline(page, site.url, client_redirect_uri=REDIRECT_URI, arrived=arrived)
    verifier = "second-factor-verifier-" + "w" * 40
    authorization_url, _ = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    page.goto(authorization_url)
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/accounts/login/verify/")
    for credential in passkeys:
        cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": credential})
    page.get_by_role("button", name="Use a passkey").wait_for()
    check_page(page, artifacts_dir, "login-second-step-passkey")
    # The app was allowed before: no consent page this time, /idp redirects to it at once.
    # (Playwright routes only the first request of a redirect chain, so the redirect to
    # the app is caught as a request, not served by the stub.)
    with page.expect_request(lambda request: request.url.startswith(REDIRECT_URI)) as to_the_app:
        page.get_by_role("button", name="Use a passkey").click()
    callback = to_the_app.value.url
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    context.close()


def test_a_person_sets_up_an_authenticator_app_and_logs_in_with_a_code_in_a_browser(browser, site, artifacts_dir):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.factories import UserFactory

    person = UserFactory()
    context = browser.new_context(viewport=VIEWPORTS["phone"])
    page = context.new_page()
    off_site = stay_offline(page, site.url)
    page.goto(f"{site.url}/accounts/login/?next=/account/security")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/account/security")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.locator(".qr-code svg").wait_for()
    check_page(page, artifacts_dir, "totp-setup")
    key = page.locator(".totp-key").inner_text().replace(" ", "")
    phone = pyotp.TOTP(key)
    page.get_by_label("Code").fill(phone.now())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{site.url}/account/security")
    assert page.locator(".recovery-codes li").count() == 10
    recovery = page.locator(".recovery-codes li").first.inner_text()
    device = TOTPDevice.objects.get(user=person, confirmed=True)
    assert base64.b32encode(device.bin_key).decode().rstrip("=") == key
    page.get_by_role("button", name="Log out").click()

    # The next login asks for a code after the password; a recovery code works once.
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/accounts/login/verify/")
    check_page(page, artifacts_dir, "login-second-step")
    page.get_by_role("textbox", name="Code").fill(recovery)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{site.url}/")
    assert page.get_by_role("button", name="Log out").is_visible()
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    context.close()
