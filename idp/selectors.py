"""Reads for the provider: a person's connected apps, an app's setup card (bearer tokens: idp.bearer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.scopes import get_scopes_backend

from idp.models import Application, Consent
from idp.services.gpt_actions import GPT_ACTION_TOKEN_EXCHANGE_METHOD
from idp.validators import GPT_ACTION_CALLBACK_HOSTS, is_loopback_host


@dataclass(frozen=True)
class ConnectedApp:
    """One app a person has allowed, as the account page shows it."""

    consent_id: int
    application: Application
    scopes: list[tuple[str, str]]  # (scope, what it lets the app do, in plain words)
    first_allowed_at: datetime
    last_used_at: datetime


def connected_app_list(*, user) -> list[ConnectedApp]:
    """The apps the person has allowed, most recently used first."""
    descriptions = get_scopes_backend().get_all_scopes()
    consents = Consent.objects.filter(user=user).select_related("application").order_by("-last_used_at", "-pk")
    return [
        ConnectedApp(
            consent_id=consent.pk,
            application=consent.application,
            scopes=[(scope, descriptions.get(scope, scope)) for scope in consent.scopes],
            first_allowed_at=consent.first_allowed_at,
            last_used_at=consent.last_used_at,
        )
        for consent in consents
    ]


# --- The setup card on a connected app's admin page -----------------------------

# The GPT editor's name for client_secret_basic, which works as well (not a secret).
GPT_TOKEN_EXCHANGE_METHOD_ALTERNATIVE = "Basic authorization header"  # noqa: S105


@dataclass(frozen=True)
class SetupValue:
    label: str
    value: str | None  # None: nothing to copy (the note says why)
    note: str = ""
    key: str = ""


@dataclass(frozen=True)
class SetupCard:
    """What an admin pastes into ChatGPT's GPT editor or an MCP client, and the app's tokens."""

    gpt_action: list[SetupValue]
    mcp: list[SetupValue]
    tokens: TokenSummary


@dataclass(frozen=True)
class TokenSummary:
    active_access_tokens: int
    people_with_access: int
    live_refresh_tokens: int
    revoked_refresh_tokens: int


def _site_url(name: str, fallback_path: str) -> str:
    """SITE_URL + the path of a URL name, or of `fallback_path` while that
    name does not exist (the task API and MCP endpoint are other apps)."""
    try:
        return settings.SITE_URL + reverse(name)
    except NoReverseMatch:
        return settings.SITE_URL + fallback_path


def _looks_like_mcp_client(application: Application) -> bool:
    """Registered by the client itself (DCR or a metadata document), as MCP clients do, or
    sent back to ChatGPT's connector callback or to a loopback address (desktop MCP clients)."""
    if application.registration_source != Application.RegistrationSource.MANUAL:
        return True
    for uri in application.redirect_uri_list():
        parts = urlsplit(uri)
        if parts.hostname in GPT_ACTION_CALLBACK_HOSTS and "/connector" in parts.path:
            return True
        if is_loopback_host(parts.hostname):
            return True
    return False


def application_token_summary(*, application: Application) -> TokenSummary:
    access_tokens = get_access_token_model().objects.filter(application=application, expires__gt=timezone.now())
    refresh_tokens = get_refresh_token_model().objects.filter(application=application)
    return TokenSummary(
        active_access_tokens=access_tokens.count(),
        people_with_access=access_tokens.exclude(user=None).values("user").distinct().count(),
        live_refresh_tokens=refresh_tokens.filter(revoked__isnull=True).count(),
        revoked_refresh_tokens=refresh_tokens.filter(revoked__isnull=False).count(),
    )


def application_setup_card(*, application: Application, client_secret: str | None = None) -> SetupCard:
    """The values to copy for the kind of client this app is for: a GPT Action, an MCP
    client, or both when the app does not tell (a public client cannot be a GPT Action,
    which needs a secret). `client_secret` is given only right after it was issued,
    the one time it can be shown."""
    gpt, mcp = application.is_gpt_action, _looks_like_mcp_client(application)
    if not gpt and not mcp:
        gpt, mcp = True, True
    if application.is_public:
        gpt, mcp = False, True
    secret_note = (
        "Shown once, when the app was created. Rotate the secret to get a new one."
        if not application.is_public
        else "None: a public client proves itself with PKCE."
    )
    client_id = SetupValue("Client ID", application.client_id, key="client_id")
    if client_secret:
        secret_note = "Copy it now: it is stored hashed and cannot be shown again. Rotate it to get a new one."  # noqa: S105
    secret = SetupValue("Client Secret", client_secret or None, secret_note, key="client_secret")
    gpt_values = [
        SetupValue(
            "Schema URL",
            _site_url("api:schema", "/api/schema"),
            "Actions → Create new action → Import from URL.",
            key="schema_url",
        ),
        client_id,
        secret,
        SetupValue("Authorization URL", settings.SITE_URL + reverse("idp:authorize"), key="authorization_url"),
        SetupValue("Token URL", settings.SITE_URL + reverse("idp:token"), key="token_url"),
        SetupValue("Scope", application.gpt_action_scope, key="scope"),
        SetupValue(
            "Token Exchange Method",
            GPT_ACTION_TOKEN_EXCHANGE_METHOD,
            f"“{GPT_TOKEN_EXCHANGE_METHOD_ALTERNATIVE}” works as well.",
            key="token_exchange_method",
        ),
    ]
    try:
        gpt_values.append(
            SetupValue(
                "Privacy policy URL",
                settings.SITE_URL + reverse("privacy"),
                "Needed to publish the GPT.",
                key="privacy_url",
            )
        )
    except NoReverseMatch:
        pass
    mcp_values = [
        SetupValue(
            "MCP server URL",
            getattr(settings, "MCP_RESOURCE_URL", "") or _site_url("mcp", "/mcp"),
            "Paste it into the client (in ChatGPT: a new connector, authentication OAuth). The client registers "
            "itself and people sign in and allow it here.",
            key="mcp_url",
        ),
    ]
    if application.registration_source == Application.RegistrationSource.MANUAL:
        mcp_values.append(
            SetupValue(
                "Client ID",
                application.client_id,
                "Only for clients that ask for a registered client ID instead of registering themselves.",
                key="mcp_client_id",
            )
        )
        if client_secret and not gpt:
            mcp_values.append(secret)
    return SetupCard(
        gpt_action=gpt_values if gpt else [],
        mcp=mcp_values if mcp else [],
        tokens=application_token_summary(application=application),
    )
