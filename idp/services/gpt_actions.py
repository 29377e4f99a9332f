"""Connected apps for custom GPTs (GPT Actions): made with a secret and no PKCE, for the GPT editor's callbacks."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from idp.audit import AuditEvent, audit_record
from idp.models import Application
from idp.services.apps import IssuedCredentials, application_create
from idp.validators import GPT_ACTION_CALLBACK_HOSTS, is_gpt_action_callback

# The GPT editor's name for client_secret_post (not a secret).
GPT_ACTION_TOKEN_EXCHANGE_METHOD = "Default (POST request)"  # noqa: S105


def gpt_action_redirect_uris(callback_url: str) -> list[str]:
    """The GPT editor's callback URL on both of ChatGPT's hosts, which both use it.

    The editor shows it as https://chat.openai.com/aip/<GPT id>/oauth/callback
    or https://chatgpt.com/aip/<GPT id>/oauth/callback; ChatGPT may redirect
    through either, so both are registered (exact matches, no wildcard).
    """
    if not is_gpt_action_callback(callback_url):
        raise ValidationError(
            {
                "redirect_uris": [
                    f"{callback_url!r} is not a GPT editor callback URL: copy the one the editor shows, "
                    "like https://chatgpt.com/aip/g-abc123/oauth/callback."
                ]
            }
        )
    path = urlsplit(callback_url.strip()).path
    return [f"https://{host}{path}" for host in GPT_ACTION_CALLBACK_HOSTS]


@transaction.atomic
def application_create_for_gpt_action(
    *, name: str, callback_url: str | None = None, scopes: list[str] | None = None
) -> IssuedCredentials:
    """A confidential app for a custom GPT's action, with its credentials shown once.

    GPT Actions authenticate at the token endpoint with the secret, in the
    POST body or as HTTP Basic (DOT accepts both from any confidential
    client), and do not send PKCE: PKCE is not required of this app, which
    its secret and exact redirect URIs protect instead. `callback_url` may
    come later (application_add_gpt_action_callback): the editor shows it
    only after the OAuth fields are saved.
    """
    return application_create(
        name=name,
        redirect_uris=gpt_action_redirect_uris(callback_url) if callback_url else [],
        require_pkce_if_confidential=False,
        scopes=scopes or list(settings.TASK_SCOPES),
        description="A custom GPT in ChatGPT that works with your tasks.",
        allow_no_redirect_uris=True,
    )


@transaction.atomic
def application_add_gpt_action_callback(*, application: Application, callback_url: str) -> Application:
    """Register a GPT editor callback URL (on both hosts) for an app made for a GPT Action.

    The GPT id in the URL changes when the action's OAuth settings change;
    earlier callbacks stay registered, being ChatGPT's own addresses.
    """
    if not application.is_gpt_action:
        raise ValidationError(
            {"client_id": [f"{application.name!r} is not a GPT Action app (one made by create_gpt_action)."]}
        )
    uris = application.redirect_uri_list()
    uris += [uri for uri in gpt_action_redirect_uris(callback_url) if uri not in uris]
    application.redirect_uris = " ".join(uris)
    application.full_clean(exclude=["client_secret"])
    application.save(update_fields=["redirect_uris", "updated"])
    audit_record(kind=AuditEvent.Kind.APP_CHANGED, application=application, changed=["redirect_uris"])
    return application
