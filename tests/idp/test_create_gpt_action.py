"""create_gpt_action and add_gpt_callback: a connected app for a custom GPT's action."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command

from idp.models import Application

CALLBACK = "https://chatgpt.com/aip/g-abc123/oauth/callback"
BOTH_CALLBACKS = [
    "https://chat.openai.com/aip/g-abc123/oauth/callback",
    "https://chatgpt.com/aip/g-abc123/oauth/callback",
]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_json_has_the_connected_app_keys_plus_token_exchange_method_and_schema_url():
    setup = json.loads(run("create_gpt_action", "--name", "My tasks GPT", "--callback-url", CALLBACK, "--json"))

    assert setup == {
        "client_id": setup["client_id"],
        "client_secret": setup["client_secret"],
        "authorization_url": "http://127.0.0.1:8000/idp",
        "token_url": "http://127.0.0.1:8000/idp/token",
        "scope": "tasks:read tasks:write",
        "token_exchange_method": "Default (POST request)",
        "schema_url": "http://127.0.0.1:8000/api/schema",
    }
    assert check_password(setup["client_secret"], Application.objects.get(client_id=setup["client_id"]).client_secret)


@pytest.mark.django_db
def test_the_app_is_confidential_without_pkce_with_the_task_scopes_and_both_callback_hosts():
    setup = json.loads(run("create_gpt_action", "--name", "My tasks GPT", "--callback-url", CALLBACK, "--json"))

    application = Application.objects.get(client_id=setup["client_id"])
    assert application.name == "My tasks GPT"
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    assert application.require_pkce_if_confidential is False
    assert application.pkce_required is False
    assert application.allowed_scopes == "tasks:read tasks:write"
    assert application.redirect_uri_list() == BOTH_CALLBACKS
    assert application.client_secret != setup["client_secret"], "stored hashed"


@pytest.mark.django_db
@pytest.mark.parametrize("given", BOTH_CALLBACKS)
def test_either_host_of_the_callback_registers_both(given):
    setup = json.loads(run("create_gpt_action", "--name", "GPT", "--callback-url", given, "--json"))

    assert Application.objects.get(client_id=setup["client_id"]).redirect_uri_list() == BOTH_CALLBACKS


@pytest.mark.django_db
def test_the_text_output_walks_through_every_field_of_the_editors_oauth_form():
    out = run("create_gpt_action", "--name", "My tasks GPT", "--callback-url", CALLBACK)

    application = Application.objects.get()
    for expected in (
        "Import from URL:          http://127.0.0.1:8000/api/schema",
        f"Client ID:                {application.client_id}",
        "Client Secret:            ",
        "Authorization URL:        http://127.0.0.1:8000/idp",
        "Token URL:                http://127.0.0.1:8000/idp/token",
        "Scope:                    tasks:read tasks:write",
        "Token Exchange Method:    Default (POST request)",
        *BOTH_CALLBACKS,
        "http://127.0.0.1:8000/privacy",
    ):
        assert expected in out, expected


@pytest.mark.django_db
def test_without_a_callback_url_the_app_is_made_and_the_output_says_how_to_add_it_later():
    out = run("create_gpt_action", "--name", "My tasks GPT")

    application = Application.objects.get()
    assert application.redirect_uri_list() == []
    assert f"python manage.py add_gpt_callback --client-id {application.client_id} --callback-url" in out

    added = run("add_gpt_callback", "--client-id", application.client_id, "--callback-url", CALLBACK)

    application.refresh_from_db()
    assert application.redirect_uri_list() == BOTH_CALLBACKS
    assert all(uri in added for uri in BOTH_CALLBACKS)


@pytest.mark.django_db
def test_a_new_callback_is_added_beside_the_old_ones_once():
    run("create_gpt_action", "--name", "GPT", "--callback-url", CALLBACK)
    application = Application.objects.get()

    run("add_gpt_callback", "--client-id", application.client_id, "--callback-url", CALLBACK)
    run("add_gpt_callback", "--client-id", application.client_id, "--callback-url", CALLBACK.replace("abc123", "xyz"))

    application.refresh_from_db()
    assert len(application.redirect_uri_list()) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    "callback",
    [
        "http://chatgpt.com/aip/g-abc123/oauth/callback",
        "https://evil.example.com/aip/g-abc123/oauth/callback",
        "https://chatgpt.com.evil.example.com/aip/g-abc123/oauth/callback",
        "https://user:pw@chatgpt.com/aip/g-abc123/oauth/callback",
        "https://chatgpt.com:8443/aip/g-abc123/oauth/callback",
        "https://chatgpt.com/aip/g-abc123/oauth/callback?x=1",
        "https://chatgpt.com/aip/g-abc123/oauth/callback#f",
        "https://chatgpt.com/aip/../oauth/callback",
        "https://chatgpt.com/somewhere/else",
        "not a url",
    ],
)
def test_a_callback_that_is_not_chatgpts_is_refused_and_nothing_is_created(callback):
    with pytest.raises(CommandError, match="Nothing was created.*not a GPT editor callback URL"):
        run("create_gpt_action", "--name", "GPT", "--callback-url", callback)

    assert not Application.objects.exists()


@pytest.mark.django_db
def test_an_unknown_scope_or_a_blank_name_is_refused_and_nothing_is_created():
    with pytest.raises(CommandError, match="Unknown scope 'tasks:admin'"):
        run("create_gpt_action", "--name", "GPT", "--scope", "tasks:admin")
    with pytest.raises(CommandError, match="Give the app a name"):
        run("create_gpt_action", "--name", "  ")

    assert not Application.objects.exists()


@pytest.mark.django_db
def test_add_gpt_callback_refuses_an_unknown_client_and_an_app_not_made_for_a_gpt(application):
    with pytest.raises(CommandError, match="No app has the client ID"):
        run("add_gpt_callback", "--client-id", "nope", "--callback-url", CALLBACK)
    with pytest.raises(CommandError, match="Nothing was changed.*not a GPT Action app"):
        run("add_gpt_callback", "--client-id", application.client_id, "--callback-url", CALLBACK)

    application.refresh_from_db()
    assert application.redirect_uri_list() == ["https://client.example.com/callback"]


@pytest.mark.django_db
def test_one_rule_says_whether_an_app_is_a_gpt_action_for_the_command_and_the_setup_card(application):
    """Application.is_gpt_action: confidential, PKCE not required, sent to the GPT editor's callback or nowhere yet."""
    from idp.selectors import application_setup_card

    made = json.loads(run("create_gpt_action", "--name", "My tasks GPT", "--json"))
    gpt = Application.objects.get(client_id=made["client_id"])
    application.require_pkce_if_confidential = False  # confidential, no PKCE, but sent back to another site
    application.save()

    assert gpt.is_gpt_action
    assert not application.is_gpt_action
    assert application_setup_card(application=gpt).gpt_action
    with pytest.raises(CommandError, match="not a GPT Action app"):
        run("add_gpt_callback", "--client-id", application.client_id, "--callback-url", CALLBACK)
    run("add_gpt_callback", "--client-id", gpt.client_id, "--callback-url", CALLBACK)
    gpt.refresh_from_db()
    assert gpt.is_gpt_action
    assert {value.key: value.value for value in application_setup_card(application=gpt).gpt_action}["scope"] == (
        made["scope"]
    )
