"""A person in a real browser: log in, approve the consent page, arrive at the client with a code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.fixtures import pkce_pair

pytestmark = [pytest.mark.live, pytest.mark.browser]

REDIRECT_URI = "https://client.example.com/callback"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_log_in_and_allow_in_a_browser_arrives_at_the_client_with_code_state_and_iss(
    browser,
    live_server,
    user,
    password,
    artifacts_dir,
    viewport,
):
    from tests.factories import ApplicationFactory

    application = ApplicationFactory(redirect_uris=REDIRECT_URI, name="Browser test client")
    _, challenge = pkce_pair()
    state = "state-with-unusual/characters+=="
    authorize = f"{live_server.url}/idp?" + urlencode(
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
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    arrived: list[str] = []

    def only_our_site(route):
        url = route.request.url
        if url.startswith(REDIRECT_URI):
            arrived.append(url)
            route.fulfill(status=200, content_type="text/plain", body="the client")
        elif url.startswith(live_server.url):
            route.continue_()
        else:
            route.abort()  # the test makes no request off this machine

    page.route("**/*", only_our_site)

    page.goto(authorize)
    assert "/accounts/login/" in page.url
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.screenshot(path=artifacts_dir / f"login-{viewport}.png", full_page=True)
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url(f"{live_server.url}/idp?**")
    heading = page.get_by_role("heading", level=1)
    assert "Browser test client" in heading.inner_text()
    assert "See your tasks" in page.content()
    assert "client.example.com" in page.locator(".redirect-host").inner_text()
    page.screenshot(path=artifacts_dir / f"consent-{viewport}.png", full_page=True)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(f"{REDIRECT_URI}?**")
    params = parse_qs(urlsplit(arrived[-1]).query)
    assert params["code"][0]
    assert params["state"] == [state]
    assert params["iss"] == [live_server.url]
    context.close()
