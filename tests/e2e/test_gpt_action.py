"""A custom GPT, played over real HTTP against a live server, from schema import to task calls.

What ChatGPT does, step by step: import the OpenAPI document by URL; take the
OAuth settings an admin made with `create_gpt_action`; send the person to
the authorization URL (no PKCE: GPT Actions do not send it); exchange the
code at the token URL with the client secret in the POST body (the editor's
"Default (POST request)"), or as HTTP Basic ("Basic authorization header");
then call the operations by their operationId with the bearer token.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import subprocess
import sys
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests import live
from tests.factories import UserFactory
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.live

CALLBACK = "https://chatgpt.com/aip/g-abc123/oauth/callback"


class Gpt:
    """ChatGPT's side of a GPT Action: an imported schema and the editor's OAuth settings."""

    def __init__(self, schema_url: str, oauth: dict):
        response = requests.get(schema_url, timeout=10)
        assert response.status_code == HTTPStatus.OK
        self.schema = response.json()
        self.oauth = oauth
        self.server = self.schema["servers"][0]["url"]
        self.operations = {
            operation["operationId"]: (method.upper(), path)
            for path, item in self.schema["paths"].items()
            for method, operation in item.items()
        }

    def authorization_url(self, state: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.oauth["client_id"],
            "redirect_uri": CALLBACK,
            "scope": self.oauth["scope"],
            "state": state,
        }
        return f"{self.oauth['authorization_url']}?{urlencode(query)}"

    def exchange(self, code: str, *, basic: bool) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        credentials = (self.oauth["client_id"], self.oauth["client_secret"])
        if basic:
            return requests.post(self.oauth["token_url"], data=data, auth=credentials, timeout=10)
        data.update(client_id=credentials[0], client_secret=credentials[1])
        return requests.post(self.oauth["token_url"], data=data, timeout=10)

    def call(self, operation_id: str, token: str, *, json=None, params=None, **path) -> requests.Response:
        method, template = self.operations[operation_id]
        url = self.server + template.format(**path)
        return requests.request(
            method, url, json=json, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )


def hidden_inputs(page: str) -> dict[str, str]:
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def person_signs_in_and_allows(server_url: str, email: str, authorization_url: str) -> dict[str, str]:
    """A person's browser: log in, approve the consent page, and land on the callback (not followed)."""
    browser = requests.Session()
    next_path = authorization_url.removeprefix(server_url)
    login_page = browser.get(f"{server_url}/accounts/login/", params={"next": next_path}, timeout=10)
    logged_in = browser.post(
        f"{server_url}/accounts/login/",
        data={
            "username": email,
            "password": PASSWORD,
            "next": next_path,
            "csrfmiddlewaretoken": hidden_inputs(login_page.text)["csrfmiddlewaretoken"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert logged_in.status_code == HTTPStatus.FOUND, logged_in.text[:500]
    consent = browser.get(server_url + logged_in.headers["Location"], allow_redirects=False, timeout=10)
    if consent.status_code == HTTPStatus.OK:
        assert "wants to act for you" in consent.text
        form = hidden_inputs(consent.text)
        decision = browser.post(consent.url, data={**form, "allow": "Authorize"}, allow_redirects=False, timeout=10)
        assert decision.status_code == HTTPStatus.SEE_OTHER
    else:
        # Consent given before for the same scopes is remembered (REQUEST_APPROVAL_PROMPT=auto).
        decision = consent
        assert decision.status_code in (HTTPStatus.FOUND, HTTPStatus.SEE_OTHER)
    location = decision.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def create_gpt_action_on(server) -> dict:
    """`manage.py create_gpt_action`, run as an admin would, against the live server's database."""
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_gpt_action",
            "--name",
            "My tasks GPT",
            "--callback-url",
            CALLBACK,
            "--json",
        ],
        cwd=live.BASE_DIR,
        env={**os.environ, "SITE_URL": server.url, "DATABASE_URL": live.test_database_url()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def token_for(gpt: Gpt, server, email: str, *, basic: bool) -> str:
    state = secrets.token_urlsafe(16)
    callback = person_signs_in_and_allows(server.url, email, gpt.authorization_url(state))
    assert callback["state"] == state
    assert callback["iss"] == server.url, "RFC 9207: the callback names the issuer"

    exchanged = gpt.exchange(callback["code"], basic=basic)

    assert exchanged.status_code == HTTPStatus.OK, exchanged.text
    body = exchanged.json()
    assert body["token_type"] == "Bearer"
    assert sorted(body["scope"].split()) == ["tasks:read", "tasks:write"]
    assert body["refresh_token"]
    return body["access_token"]


def test_a_custom_gpt_connects_and_manages_only_its_persons_tasks(live_server):
    ada = UserFactory(email="ada@example.com")
    grace = UserFactory(email="grace@example.com")
    oauth = create_gpt_action_on(live_server)
    gpt = Gpt(oauth["schema_url"], oauth)

    # What the admin pasted into the editor matches what the imported document says.
    flow = gpt.schema["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert gpt.server == live_server.url
    assert (flow["authorizationUrl"], flow["tokenUrl"]) == (oauth["authorization_url"], oauth["token_url"])
    assert oauth["token_exchange_method"] == "Default (POST request)"

    # Authorization code without PKCE, the secret in the POST body; then again with HTTP Basic.
    post_token = token_for(gpt, live_server, ada.email, basic=False)
    basic_token = token_for(gpt, live_server, ada.email, basic=True)

    created = gpt.call(
        "createTask",
        post_token,
        json={"title": "Renew my passport", "due_at": "2026-05-01T17:00:00+02:00", "idempotency_key": "gpt-1"},
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    task = created.json()
    retried = gpt.call("createTask", basic_token, json={"title": "Renew my passport", "idempotency_key": "gpt-1"})
    assert retried.status_code == HTTPStatus.OK
    assert retried.json()["id"] == task["id"]

    listed = gpt.call("listTasks", basic_token, params={"status": "todo,in_progress"})
    assert listed.status_code == HTTPStatus.OK
    assert [item["id"] for item in listed.json()["results"]] == [task["id"]]

    completed = gpt.call("completeTask", post_token, task_id=task["id"])
    assert completed.status_code == HTTPStatus.OK
    assert completed.json()["status"] == "done"
    assert gpt.call("listTasks", post_token, params={"status": "todo,in_progress"}).json()["results"] == []

    me = gpt.call("getMe", post_token).json()
    assert me["sub"] == str(ada.sub)

    # Another person, through the same GPT, sees and changes none of Ada's tasks.
    grace_token = token_for(gpt, live_server, grace.email, basic=False)
    assert gpt.call("listTasks", grace_token).json()["results"] == []
    for operation in ("getTask", "completeTask", "deleteTask"):
        assert gpt.call(operation, grace_token, task_id=task["id"]).status_code == HTTPStatus.NOT_FOUND
    assert gpt.call("updateTask", grace_token, task_id=task["id"], json={"title": "x"}).status_code == (
        HTTPStatus.NOT_FOUND
    )
    assert gpt.call("getTask", post_token, task_id=task["id"]).json()["title"] == "Renew my passport"
