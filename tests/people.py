"""A person at the keyboard, played with `requests`: log in, read and answer the consent page."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value") or ""


def hidden_fields(html: str) -> dict[str, str]:
    parser = _FormParser()
    parser.feed(html)
    return parser.fields


def log_in(session: requests.Session, base_url: str, email: str, password: str, next_url: str = "/"):
    """Log in through the login page; returns the response after following on-site redirects."""
    page = session.get(f"{base_url}/accounts/login/", params={"next": next_url}, timeout=10)
    page.raise_for_status()
    return session.post(
        f"{base_url}/accounts/login/",
        data={"username": email, "password": password, "next": next_url, **hidden_fields(page.text)},
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )


def answer_consent(session: requests.Session, authorize_url: str, *, allow: bool = True) -> dict[str, str]:
    """Open the authorization URL as a logged-in person and answer the consent page.

    Returns the query parameters of the redirect to the client (never followed:
    the client's redirect URI need not exist).
    """
    response = session.get(authorize_url, allow_redirects=False, timeout=10)
    if response.status_code == 200:  # the consent page
        decision = {"allow": "Authorize"} if allow else {"deny": "1"}
        response = session.post(
            urljoin(authorize_url, urlsplit(authorize_url).path),
            data={**hidden_fields(response.text), **decision},
            headers={"Referer": authorize_url},
            allow_redirects=False,
            timeout=10,
        )
    if response.status_code not in (302, 303):
        raise AssertionError(f"expected a redirect to the client, got {response.status_code}: {response.text[:500]}")
    location = response.headers["Location"]
    params = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    params["_location"] = location
    params["_status"] = str(response.status_code)
    return params
