"""`manage.py create_connected_app`: what the GPT editor asks for, and nothing created on bad input."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command

from idp.models import Application

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_connected_app", *args, stdout=out)
    return out.getvalue()


def test_it_prints_every_field_the_gpt_editor_asks_for_with_the_secret_once():
    output = run("--name", "My tasks GPT", "--redirect-uri", "https://chatgpt.com/aip/g-1/oauth/callback")

    application = Application.objects.get(name="My tasks GPT")
    assert f"Client ID:          {application.client_id}" in output
    secret = next(line.split()[-1] for line in output.splitlines() if "Client secret:" in line)
    assert check_password(secret, application.client_secret), "the printed secret is the one stored (hashed)"
    assert "Authorization URL:  http://127.0.0.1:8000/idp" in output
    assert "Token URL:          http://127.0.0.1:8000/idp/token" in output
    assert "Scope:" in output


def test_json_prints_one_object_with_the_documented_keys():
    output = run(
        "--name", "Client", "--redirect-uri", "https://client.example.com/cb", "--scope", "openid tasks:read", "--json"
    )

    data = json.loads(output)
    assert set(data) == {"client_id", "client_secret", "authorization_url", "token_url", "scope"}
    assert data["scope"] == "openid tasks:read"
    application = Application.objects.get(client_id=data["client_id"])
    assert application.allowed_scopes == "openid tasks:read"
    assert application.require_pkce_if_confidential is True
    assert application.client_type == Application.CLIENT_CONFIDENTIAL


def test_options_set_public_no_pkce_first_party_and_several_redirect_uris():
    data = json.loads(
        run(
            "--name", "Native", "--public", "--first-party",
            "--redirect-uri", "http://127.0.0.1:6276/oauth/callback",
            "--redirect-uri", "http://[::1]:6276/oauth/callback",
            "--json",
        )
    )  # fmt: skip
    public = Application.objects.get(client_id=data["client_id"])
    gpt = Application.objects.get(
        client_id=json.loads(run("--name", "GPT", "--redirect-uri", "https://a.example/cb", "--no-pkce", "--json"))[
            "client_id"
        ]
    )

    assert data["client_secret"] is None
    assert public.client_type == Application.CLIENT_PUBLIC
    assert public.first_party is True
    assert public.redirect_uri_list() == ["http://127.0.0.1:6276/oauth/callback", "http://[::1]:6276/oauth/callback"]
    assert gpt.require_pkce_if_confidential is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "http://client.example.com/cb"], "uses http on a host other than"),
        (["--redirect-uri", "not-a-url"], "must be an absolute https URL"),
        (["--redirect-uri", "https://client.example.com/a b"], "must not contain spaces"),
        (["--redirect-uri", "ftp://client.example.com/cb"], "must be an absolute https URL"),
        (["--redirect-uri", "https://client.example.com/cb#frag"], "must not contain a fragment"),
        (["--redirect-uri", "https://*.example.com/cb"], "wildcards"),
        (["--redirect-uri", "https://client.example.com:99999/cb"], "not a valid URL"),
        (
            ["--redirect-uri", "https://ok.example/cb", "--public", "--no-pkce"],
            "--no-pkce cannot be used with --public",
        ),
        (["--redirect-uri", "https://ok.example/cb", "--scope", "openid admin"], "Unknown scope 'admin'"),
        (["--redirect-uri", "https://ok.example/cb", "--name", "  "], "Give the app a name"),
    ],
)
def test_bad_arguments_exit_with_a_sentence_and_create_nothing(args, message):
    if "--name" not in args:
        args = ["--name", "Bad app", *args]

    with pytest.raises(CommandError, match=message):
        run(*args)

    assert Application.objects.count() == 0


def test_a_missing_redirect_uri_is_a_usage_error():
    with pytest.raises(CommandError, match="required: --redirect-uri"):
        call_command("create_connected_app", "--name", "X")

    assert Application.objects.count() == 0
