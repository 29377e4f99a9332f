"""People's pages in a real browser: sign-up, login, consent, connected apps and revoke, error pages,
the admin's setup card. Each page is screenshotted at a phone's and a desktop's width and checked
with axe-core (tests/browser.py: check_page)."""

from __future__ import annotations

import base64
import re
import secrets
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import VIEWPORTS, check_page, stay_offline
from tests.fixtures import PASSWORD, pkce_pair

pytestmark = [pytest.mark.live, pytest.mark.browser]

REDIRECT_URI = "https://client.example.com/callback"
GPT_CALLBACKS = "https://chatgpt.com/aip/g-abc123/oauth/callback https://chat.openai.com/aip/g-abc123/oauth/callback"


def authorize_url(live_server, application, challenge: str, state: str) -> str:
    return f"{live_server.url}/idp?" + urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email tasks:read",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


def basic(application) -> dict[str, str]:
    raw = f"{application.client_id}:{application.client_secret_plain}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_a_person_signs_up_allows_a_client_sees_it_under_connected_apps_and_revokes_it(
    browser,
    live_server,
    artifacts_dir,
):
    from django.core.cache import cache

    from accounts.models import User
    from accounts.services import email_verification_token
    from idp.audit import AuditEvent
    from tests.factories import ApplicationFactory

    application = ApplicationFactory(redirect_uris=REDIRECT_URI, name="Task Planner")
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    arrived: list[str] = []
    off_site = stay_offline(page, live_server.url, client_redirect_uri=REDIRECT_URI, arrived=arrived)
    email, password = f"new-{secrets.token_hex(4)}@example.com", "violet kettle 93 harbour"

    # The client sends the person to /idp; not logged in, they land on the login page and sign up from there.
    page.goto(authorize_url(live_server, application, challenge, state))
    assert "/accounts/login/" in page.url
    check_page(page, artifacts_dir, "login-from-a-client")
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url("**/accounts/signup/**")
    check_page(page, artifacts_dir, "signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create account").click()

    # Back on the authorization request: the consent page.
    page.wait_for_url(f"{live_server.url}/idp?**")
    assert "Task Planner" in page.get_by_role("heading", level=1).inner_text()
    check_page(page, artifacts_dir, "consent-after-signup")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{REDIRECT_URI}?**")
    code = parse_qs(urlsplit(arrived[-1]).query)["code"][0]

    # The client exchanges the code; the email is not verified yet.
    tokens = requests.post(
        f"{live_server.url}/idp/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        headers=basic(application),
        timeout=10,
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = requests.get(f"{live_server.url}/idp/userinfo", headers=bearer, timeout=10)
    assert userinfo.json()["email_verified"] is False

    # The link from the email (made here with the same key as the server's).
    person = User.objects.get(email=email)
    page.goto(f"{live_server.url}/accounts/verify-email/{email_verification_token(user=person)}/")
    check_page(page, artifacts_dir, "verify-email")
    page.get_by_role("button", name=f"Confirm {email}").click()
    page.wait_for_url(f"{live_server.url}/account")
    assert requests.get(f"{live_server.url}/idp/userinfo", headers=bearer, timeout=10).json()["email_verified"]

    # Connected apps: the app, what it may do, and one click to cut it off.
    apps = page.locator("#connected-apps")
    assert "Task Planner" in apps.inner_text()
    assert "See your tasks" in apps.inner_text()
    assert "First allowed" in apps.inner_text()
    check_page(page, artifacts_dir, "account")
    page.get_by_role("button", name="Revoke Task Planner").click()
    page.wait_for_url(f"{live_server.url}/account#connected-apps")
    assert "Task Planner can no longer act for you" in page.get_by_role("status").inner_text()
    assert "No app acts for you." in page.locator("#connected-apps").inner_text()
    check_page(page, artifacts_dir, "account-after-revoke")

    # The client's tokens are dead ...
    assert requests.get(f"{live_server.url}/idp/userinfo", headers=bearer, timeout=10).status_code == (
        HTTPStatus.UNAUTHORIZED
    )
    refresh = requests.post(
        f"{live_server.url}/idp/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(application),
        timeout=10,
    )
    assert refresh.status_code == HTTPStatus.BAD_REQUEST
    assert refresh.json()["error"] == "invalid_grant"

    # ... and the next authorization asks the person again.
    page.goto(authorize_url(live_server, application, pkce_pair()[1], state))
    assert page.url.startswith(f"{live_server.url}/idp?")
    assert page.get_by_role("button", name="Allow").is_visible()
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    context.close()

    # The audit log tells the story, without a token, code, verifier or password in it.
    story = list(AuditEvent.objects.filter(user=person).order_by("id").values_list("kind", flat=True))
    assert story == [
        AuditEvent.Kind.SIGNED_UP,
        AuditEvent.Kind.LOGIN_SUCCEEDED,
        AuditEvent.Kind.CONSENT_GIVEN,
        AuditEvent.Kind.TOKEN_ISSUED,
        AuditEvent.Kind.EMAIL_VERIFIED,
        AuditEvent.Kind.TOKEN_REVOKED,
    ]
    everything = repr(list(AuditEvent.objects.values()))
    for value in (tokens["access_token"], tokens["refresh_token"], tokens["id_token"], code, verifier, password):
        assert value not in everything
    assert application.client_secret_plain not in everything
    cache.clear()


def serve(status: int, body: str):
    def handler(route):
        route.fulfill(status=status, body=body, content_type="text/html")

    return handler


def test_the_login_page_and_the_error_pages_in_a_browser(browser, live_server, artifacts_dir, user, client):
    from django.template.loader import render_to_string

    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    off_site = stay_offline(page, live_server.url)

    # A wrong password: the error is announced and the fields stay labelled.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert "do not match an account" in page.get_by_role("alert").inner_text()
    check_page(page, artifacts_dir, "login-error")

    response = page.goto(f"{live_server.url}/no-such-page-{secrets.token_hex(4)}")
    assert response.status == HTTPStatus.NOT_FOUND
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    check_page(page, artifacts_dir, "error-404")
    # Visible focus: the first thing a keyboard reaches is the skip link, shown and outlined.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert page.get_by_role("link", name="Skip to content").is_visible()

    response = page.goto(f"{live_server.url}/idp?response_type=code&client_id=nobody&redirect_uri=https://x.example/")
    assert response.status == HTTPStatus.BAD_REQUEST
    assert "not registered with Taskgate" in page.get_by_role("alert").inner_text()
    check_page(page, artifacts_dir, "error-oauth-unknown-client")

    # The other pages anyone can reach.
    for path, name in [("/", "home"), ("/privacy", "privacy"), ("/accounts/password/reset/", "password-reset")]:
        assert page.goto(live_server.url + path).status == HTTPStatus.OK
        check_page(page, artifacts_dir, name)

    # 400, 403 and 500 cannot be caused from a browser on purpose: the templates
    # Django's handlers render are served at a URL of the site, with its styles.
    for status, template in [(400, "400.html"), (403, "403.html"), (403, "403_csrf.html"), (500, "500.html")]:
        body = render_to_string(template)
        url = f"{live_server.url}/__error-page-{template}"
        page.route(url, serve(status, body))
        assert page.goto(url).status == status
        assert page.get_by_role("heading", level=1).is_visible()
        check_page(page, artifacts_dir, f"error-{template.removesuffix('.html')}")
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    context.close()


def staff_second_factor(admin) -> tuple[str, str]:
    """An authenticator app and recovery codes for `admin`: a code of the app now, and a recovery code."""
    import pyotp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.second_factor import recovery_codes_make

    device = TOTPDevice.objects.create(user=admin, name="Authenticator app", confirmed=True)
    codes = recovery_codes_make(user=admin)
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode()).now(), codes[0]


def give_second_factor(page, code: str) -> None:
    """The admin's password alone does not open the admin: the second-factor page asks for a code."""
    page.wait_for_url("**/accounts/login/verify/**")
    page.get_by_role("textbox", name="Code").fill(code)
    page.get_by_role("button", name="Continue").click()


def test_the_admins_setup_card_in_a_browser(browser, live_server, artifacts_dir):
    from idp.models import Application
    from tests.factories import ApplicationFactory, UserFactory

    admin = UserFactory(is_staff=True, is_superuser=True)
    # REQUIRE_2FA_FOR_STAFF (on outside debug): the admin has an authenticator app and recovery codes.
    app_code, recovery_code = staff_second_factor(admin)
    gpt = ApplicationFactory(name="Tasks GPT", redirect_uris=GPT_CALLBACKS, require_pkce_if_confidential=False)
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    off_site = stay_offline(page, live_server.url)

    page.goto(f"{live_server.url}/admin/idp/application/{gpt.pk}/change/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    give_second_factor(page, app_code)
    page.wait_for_url(f"**/admin/idp/application/{gpt.pk}/change/")
    card = page.locator(".setup-card")
    assert gpt.client_id in card.inner_text()
    assert "Default (POST request)" in card.inner_text()
    assert f"{live_server.url}/api/schema" in card.inner_text()
    check_page(page, artifacts_dir, "admin-setup-card")

    page.get_by_role("button", name="Copy Client ID").click()
    # The copy is asynchronous: wait for the status line to say it is done.
    expect(page.locator(".setup-card .copy-status")).to_have_text("Client ID copied.")
    assert page.evaluate("navigator.clipboard.readText()") == gpt.client_id

    page.get_by_role("button", name="Rotate the secret (shown once)").click()
    secret = page.locator("#setup-client_secret").inner_text()
    from django.contrib.auth.hashers import check_password

    assert check_password(secret, Application.objects.get(pk=gpt.pk).client_secret)
    check_page(page, artifacts_dir, "admin-credentials")
    page.get_by_role("link", name="Continue to the app").click()
    page.wait_for_url(f"**/admin/idp/application/{gpt.pk}/change/")
    assert secret not in page.content()

    # The audit log: what the admin just did, filtered by app, and no secret.
    page.goto(f"{live_server.url}/admin/idp/auditevent/?application__id__exact={gpt.pk}")
    assert "App changed" in page.locator("#result_list").inner_text()
    assert secret not in page.content()
    check_page(page, artifacts_dir, "admin-audit-log")
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    context.close()

    # Without JavaScript the values are plain text to select, and no dead button shows.
    plain = browser.new_context(viewport=VIEWPORTS["phone"], java_script_enabled=False)
    page = plain.new_page()
    off_site = stay_offline(page, live_server.url)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/idp/application/{gpt.pk}/change/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    give_second_factor(page, recovery_code)
    page.wait_for_url(f"**/admin/idp/application/{gpt.pk}/change/")
    assert page.locator("#setup-client_id").is_visible()
    assert not page.get_by_role("button", name="Copy Client ID").is_visible()
    assert re.fullmatch(r"[\w-]+", page.locator("#setup-client_id").inner_text())
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
    plain.close()
