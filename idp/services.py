"""Writes for connected apps. The admin, the commands and registration all call these."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret

from idp.models import Application, SelfRegisteredApplication
from idp.validators import validate_redirect_uris


@dataclass(frozen=True)
class IssuedCredentials:
    """What a new app's developer needs, shown once: the secret is hashed at rest."""

    application: Application
    client_secret: str | None

    @property
    def client_id(self) -> str:
        return self.application.client_id

    def as_setup(self) -> dict[str, str | None]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authorization_url": settings.SITE_URL + reverse("idp:authorize"),
            "token_url": settings.SITE_URL + reverse("idp:token"),
            "scope": self.application.allowed_scopes or " ".join(settings.OAUTH2_PROVIDER["SCOPES"]),
        }


def _known_scopes() -> set[str]:
    return set(settings.OAUTH2_PROVIDER["SCOPES"])


@transaction.atomic
def application_create(
    *,
    name: str,
    redirect_uris: list[str],
    public: bool = False,
    require_pkce: bool = True,
    scopes: list[str] | None = None,
    first_party: bool = False,
    description: str = "",
    homepage_url: str = "",
    logo_url: str = "",
    registration_source: str = Application.RegistrationSource.MANUAL,
    allow_no_redirect_uris: bool = False,
) -> IssuedCredentials:
    """Create a connected app and return its credentials, the secret in clear this once.

    Raises ValidationError, with nothing written, on a bad name, redirect URI
    or scope, or on PKCE turned off for a public client. With
    `allow_no_redirect_uris`, an app may start without redirect URIs (a GPT
    Action's callback URL is known only later); it cannot complete an
    authorization until one is added.
    """
    try:
        validate_redirect_uris(redirect_uris)
    except ValidationError as error:
        raise ValidationError({"redirect_uris": error.error_list}) from None
    unknown = sorted(set(scopes or []) - _known_scopes())
    if unknown:
        raise ValidationError(
            {"allowed_scopes": [f"Unknown scope {s!r}; known: {', '.join(sorted(_known_scopes()))}." for s in unknown]}
        )
    secret = None if public else generate_client_secret()
    application = Application(
        name=name.strip(),
        redirect_uris=" ".join(redirect_uris),
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        client_secret=secret or "",
        require_pkce=require_pkce,
        allowed_scopes=" ".join(scopes or []),
        first_party=first_party,
        description=description,
        homepage_url=homepage_url,
        logo_url=logo_url,
        registration_source=registration_source,
    )
    if not application.name:
        raise ValidationError({"name": ["Give the app a name: people see it on the consent page."]})
    try:
        application.full_clean(exclude=["client_secret"])
    except ValidationError as error:
        errors = error.message_dict
        if allow_no_redirect_uris and not redirect_uris:
            # With no URI, DOT's "cannot be empty" is the only possible complaint here.
            errors.pop("redirect_uris", None)
        if errors:
            raise ValidationError(errors) from None
    application.save()
    return IssuedCredentials(application=application, client_secret=secret)


# --- Custom GPTs (GPT Actions) ------------------------------------------------------

GPT_ACTION_CALLBACK_HOSTS = ("chat.openai.com", "chatgpt.com")
_GPT_ACTION_CALLBACK_PATH = re.compile(r"/aip/[A-Za-z0-9_-]{1,100}/oauth/callback")
# The GPT editor's name for client_secret_post (not a secret).
GPT_ACTION_TOKEN_EXCHANGE_METHOD = "Default (POST request)"  # noqa: S105


def gpt_action_redirect_uris(callback_url: str) -> list[str]:
    """The GPT editor's callback URL on both of ChatGPT's hosts, which both use it.

    The editor shows it as https://chat.openai.com/aip/<GPT id>/oauth/callback
    or https://chatgpt.com/aip/<GPT id>/oauth/callback; ChatGPT may redirect
    through either, so both are registered (exact matches, no wildcard).
    """
    parts = urlsplit(callback_url.strip())
    if (
        parts.scheme != "https"
        # The whole authority: no port, no user name or password.
        or parts.netloc.lower() not in GPT_ACTION_CALLBACK_HOSTS
        or parts.query
        or parts.fragment
        or not _GPT_ACTION_CALLBACK_PATH.fullmatch(parts.path)
    ):
        raise ValidationError(
            {
                "redirect_uris": [
                    f"{callback_url!r} is not a GPT editor callback URL: copy the one the editor shows, "
                    "like https://chatgpt.com/aip/g-abc123/oauth/callback."
                ]
            }
        )
    return [f"https://{host}{parts.path}" for host in GPT_ACTION_CALLBACK_HOSTS]


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
        require_pkce=False,
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
    if application.is_public or application.require_pkce:
        raise ValidationError(
            {"client_id": [f"{application.name!r} is not a GPT Action app (one made by create_gpt_action)."]}
        )
    uris = application.redirect_uri_list()
    uris += [uri for uri in gpt_action_redirect_uris(callback_url) if uri not in uris]
    application.redirect_uris = " ".join(uris)
    application.full_clean(exclude=["client_secret"])
    application.save(update_fields=["redirect_uris", "updated"])
    return application


@transaction.atomic
def application_rotate_secret(*, application: Application) -> IssuedCredentials:
    """Give a confidential app a new secret; the old one stops working at once."""
    if application.is_public:
        raise ValidationError("A public client has no secret to rotate.")
    secret = generate_client_secret()
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    return IssuedCredentials(application=application, client_secret=secret)


@transaction.atomic
def application_revoke_tokens(*, application: Application, user=None) -> int:
    """Revoke every access and refresh token of an app (for one person, if given).

    Returns how many access tokens were ended. Refresh tokens are revoked,
    not deleted, so that a later reuse is still recognised (RFC 9700 §4.14.2).
    """
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    access_tokens = get_access_token_model().objects.filter(application=application)
    refresh_tokens = get_refresh_token_model().objects.filter(application=application, revoked__isnull=True)
    if user is not None:
        access_tokens = access_tokens.filter(user=user)
        refresh_tokens = refresh_tokens.filter(user=user)
    for refresh_token in refresh_tokens.select_related("access_token"):
        refresh_token.revoke()
    count = 0
    for access_token in access_tokens:
        access_token.revoke()
        count += 1
    return count


def application_mark_used(*, application: Application) -> None:
    """Record that the app just got a token: what "unused" means for pruning."""
    Application.objects.filter(pk=application.pk).update(last_used_at=timezone.now())


@transaction.atomic
def self_registered_applications_prune(*, unused_days: int) -> int:
    """Delete the apps clients registered themselves (DCR or CIMD) that have
    got no token for `unused_days` days (counting from registration when they
    never did), with their grants and tokens. Returns how many apps went.

    A client that comes back registers again (or is fetched again, for a
    metadata document); its people are asked for consent again.
    """
    if unused_days < 1:
        raise ValidationError("Keep apps at least one day: unused_days must be 1 or more.")
    cutoff = timezone.now() - timedelta(days=unused_days)
    unused = SelfRegisteredApplication.objects.filter(
        Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created__lt=cutoff)
    )
    count = unused.count()
    unused.delete()
    return count
