"""Writes for connected apps, people's consents and the audit log.

The admin, the commands, the account page and registration all call these.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from idp.client_metadata import ClientMetadata
from idp.models import Application, AuditEvent, ClientKeys, Consent, SelfRegisteredApplication
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
    actor=None,
    request=None,
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
    audit_record(
        kind=AuditEvent.Kind.APP_CREATED
        if registration_source == Application.RegistrationSource.MANUAL
        else AuditEvent.Kind.APP_REGISTERED,
        user=actor,
        application=application,
        request=request,
        source=registration_source,
    )
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
    audit_record(kind=AuditEvent.Kind.APP_CHANGED, application=application, changed=["redirect_uris"])
    return application


@transaction.atomic
def application_rotate_secret(*, application: Application, actor=None, request=None) -> IssuedCredentials:
    """Give a confidential app a new secret; the old one stops working at once."""
    if application.is_public:
        raise ValidationError("A public client has no secret to rotate.")
    secret = generate_client_secret()
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    audit_record(
        kind=AuditEvent.Kind.APP_CHANGED,
        user=actor,
        application=application,
        request=request,
        changed=["secret rotated"],
    )
    return IssuedCredentials(application=application, client_secret=secret)


@transaction.atomic
def application_record_change(*, application: Application, changed: list[str], actor=None, request=None) -> None:
    """Audit an edit made in the admin: which fields changed, never their values.

    Turning `is_enabled` off is also recorded as the app being disabled.
    """
    audit_record(
        kind=AuditEvent.Kind.APP_CHANGED, user=actor, application=application, request=request, changed=changed
    )
    if "is_enabled" in changed and not application.is_enabled:
        audit_record(kind=AuditEvent.Kind.APP_DISABLED, user=actor, application=application, request=request)


@transaction.atomic
def application_disable(*, application: Application, actor=None, request=None) -> bool:
    """Disable an app: it can no longer start an authorization or get tokens.

    Its tokens stay until revoked (DOT refuses them: Application.is_usable).
    Returns False when it was disabled already.
    """
    if not Application.objects.filter(pk=application.pk, is_enabled=True).update(is_enabled=False):
        return False
    application.is_enabled = False
    audit_record(kind=AuditEvent.Kind.APP_DISABLED, user=actor, application=application, request=request)
    return True


@transaction.atomic
def application_revoke_tokens(
    *, application: Application, user=None, actor=None, request=None, reason: str = ""
) -> int:
    """Revoke every access and refresh token of an app (for one person, if given).

    Returns how many access tokens were ended. Refresh tokens are revoked,
    not deleted, so that a later reuse is still recognised (RFC 9700 §4.14.2).
    The audit event names `actor` (who asked), else the person.
    """
    access_tokens = get_access_token_model().objects.filter(application=application)
    refresh_tokens = get_refresh_token_model().objects.filter(application=application, revoked__isnull=True)
    if user is not None:
        access_tokens = access_tokens.filter(user=user)
        refresh_tokens = refresh_tokens.filter(user=user)
    # Counted first: revoking a refresh token also ends its access token.
    count = access_tokens.count()
    for refresh_token in refresh_tokens.select_related("access_token"):
        refresh_token.revoke()
    for access_token in access_tokens:
        access_token.revoke()
    audit_record(
        kind=AuditEvent.Kind.TOKEN_REVOKED,
        user=actor or user,
        application=application,
        request=request,
        count=count,
        everyone=user is None,
        reason=reason,
    )
    return count


@transaction.atomic
def client_keys_record(*, client_id: str, metadata: ClientMetadata) -> None:
    """Record how a self-registered client authenticates: with its keys (private_key_jwt), or not at all.

    A client that stops using keys (its metadata now says `none`) has its
    refresh tokens revoked: they were issued to whoever held the private key,
    and must not become usable without it.
    """
    if metadata.uses_keys:
        ClientKeys.objects.update_or_create(
            client_id=client_id,
            defaults={
                "token_endpoint_auth_method": ClientKeys.Method.PRIVATE_KEY_JWT,
                "jwks_uri": metadata.jwks_uri,
                "jwks": metadata.jwks,
                "signing_alg": metadata.signing_alg,
            },
        )
        return
    deleted, _ = ClientKeys.objects.filter(client_id=client_id).delete()
    application = Application.objects.filter(client_id=client_id).first()
    if deleted and application is not None:
        application_revoke_tokens(
            application=application, reason="The app stopped authenticating with its keys (private_key_jwt)."
        )


def client_keys_prune() -> int:
    """Forget the keys of clients whose app is gone (deleted by an admin, or pruned)."""
    deleted, _ = ClientKeys.objects.exclude(
        client_id__in=Application.objects.exclude(registration_source=Application.RegistrationSource.MANUAL).values(
            "client_id"
        )
    ).delete()
    return deleted


# "Last used" is kept to the minute: finer would cost a write on every request.
APPLICATION_LAST_USED_RESOLUTION = timedelta(minutes=1)


def application_mark_used(*, application: Application) -> None:
    """Record that the app just got a token: what "unused" means for pruning (counted in days).

    On every token request, so at most one UPDATE a minute per app: none when
    the instance in hand (the authenticated client) says it is that fresh.
    """
    now = timezone.now()
    if application.last_used_at is not None and now - application.last_used_at < APPLICATION_LAST_USED_RESOLUTION:
        return
    Application.objects.filter(pk=application.pk).update(last_used_at=now)
    application.last_used_at = now


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
    count = 0
    for application in unused:
        application_delete(application=application, reason=f"Self-registered and unused for {unused_days} days.")
        count += 1
    return count


@transaction.atomic
def application_delete(*, application: Application, actor=None, request=None, reason: str = "") -> None:
    """Delete an app with its grants, tokens and keys; the audit log keeps its name."""
    audit_record(kind=AuditEvent.Kind.APP_DELETED, user=actor, application=application, request=request, reason=reason)
    ClientKeys.objects.filter(client_id=application.client_id).delete()
    application.delete()


# --- People's consents (the "Connected apps" of /account) ----------------------

# How often, at most, a consent's last_used_at is written for one person and app.
CONSENT_LAST_USED_RESOLUTION = APPLICATION_LAST_USED_RESOLUTION


def _scopes_in_order(scopes: set[str]) -> str:
    known = list(settings.OAUTH2_PROVIDER["SCOPES"])
    return " ".join(sorted(scopes, key=lambda scope: (known.index(scope) if scope in known else len(known), scope)))


@transaction.atomic
def consent_record(*, user, application: Application, scopes: list[str]) -> Consent:
    """Remember that the person let the app act for them with these scopes.

    Called whenever an authorization code is issued: after the consent page,
    and when consent was remembered or skipped (first-party apps). The scopes
    add up while the consent lives: the tokens of earlier grants still work.
    """
    now = timezone.now()
    # get_or_create gets the row another request made in between, by the unique constraint.
    consent, created = Consent.objects.get_or_create(
        user=user,
        application=application,
        defaults={"scope": _scopes_in_order(set(scopes)), "first_allowed_at": now, "last_used_at": now},
    )
    if not created:
        consent.scope = _scopes_in_order(set(consent.scopes) | set(scopes))
        consent.last_used_at = now
        consent.save(update_fields=["scope", "last_used_at"])
    return consent


# When this process last noted each (person, app), by time.monotonic().
_consent_noted: dict[tuple[int, int], float] = {}
_CONSENT_NOTED_LIMIT = 100_000


def consent_use_noted_lately(*, user_id: int, application_id: int) -> bool:
    """Whether this process noted the app's use for the person less than CONSENT_LAST_USED_RESOLUTION
    ago: consent_mark_used would then do nothing, in memory, needing neither Redis nor the database."""
    noted = _consent_noted.get((user_id, application_id))
    return noted is not None and time.monotonic() - noted < CONSENT_LAST_USED_RESOLUTION.total_seconds()


def consent_mark_used(*, user_id: int, application_id: int) -> None:
    """Note that the app got or used a token for the person.

    On the hot path of every API call, so it costs nothing on most: each
    process notes a (person, app) at most once a minute, remembered in
    memory; the shared cache then lets one process of all write it, and
    the UPDATE changes nothing when the row is already that fresh.
    """
    if consent_use_noted_lately(user_id=user_id, application_id=application_id):
        return
    key = (user_id, application_id)
    now = time.monotonic()
    if len(_consent_noted) >= _CONSENT_NOTED_LIMIT:
        _consent_noted.clear()
    _consent_noted[key] = now
    if not cache.add(f"idp:consent-used:{user_id}:{application_id}", True, CONSENT_LAST_USED_RESOLUTION.seconds):
        return
    moment = timezone.now()
    Consent.objects.filter(
        user_id=user_id, application_id=application_id, last_used_at__lt=moment - CONSENT_LAST_USED_RESOLUTION
    ).update(last_used_at=moment)


def consent_forget_noted_uses() -> None:
    """Forget which uses this process noted, so that the next one is written (tests, and the shared cache cleared)."""
    _consent_noted.clear()


@transaction.atomic
def consent_revoke(*, consent: Consent, request=None) -> int:
    """The person's Revoke button: end every token of the app for them and forget the consent.

    Pending authorization codes are deleted too, so none can be exchanged
    afterwards. With no live access token left, DOT shows the consent page
    again at the app's next request (REQUEST_APPROVAL_PROMPT "auto").
    Returns how many access tokens were ended.
    """
    user, application = consent.user, consent.application
    count = application_revoke_tokens(
        application=application, user=user, request=request, reason="The person revoked the app on their account page."
    )
    get_grant_model().objects.filter(user=user, application=application).delete()
    get_id_token_model().objects.filter(user=user, application=application).delete()
    Consent.objects.filter(pk=consent.pk).delete()
    return count


# --- Audit log -------------------------------------------------------------------

# Details are short plain facts. A key that names a credential is dropped
# whatever its value, as a net under the callers' own care.
_SECRET_KEY_PARTS = ("password", "secret", "token", "code", "verifier", "credential", "assertion", "cookie", "key")
_DETAIL_TEXT_LIMIT = 200
USER_AGENT_LIMIT = 300


def _detail_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set):
        return [_detail_value(item) for item in list(value)[:20]]
    return str(value)[:_DETAIL_TEXT_LIMIT]


def _client_of(request) -> tuple[str | None, str]:
    """The address and user agent of a Django request, or of the oauthlib
    request DOT builds from one (whose headers are the request's META)."""
    if request is None:
        return None, ""
    meta = getattr(request, "META", None)
    if meta is None:
        meta = getattr(request, "headers", None) or {}
    address = meta.get("REMOTE_ADDR") or None
    try:
        address = str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        address = None
    return address, str(meta.get("HTTP_USER_AGENT") or "")[:USER_AGENT_LIMIT]


def audit_record(
    *, kind: str, user=None, application: Application | None = None, request=None, **details
) -> AuditEvent:
    """Store a security event with who, which app, from where (address, user agent) and short details.

    Never give it a password, secret, code or token: a detail whose key
    names one is dropped anyway. `request` is a Django request or DOT's
    oauthlib request; no proxy header is trusted for the address.
    """
    address, user_agent = _client_of(request)
    if user is not None and not getattr(user, "pk", None):
        user = None  # AnonymousUser, or a user not saved
    clean = {
        key: _detail_value(value)
        for key, value in details.items()
        if not any(part in key.lower() for part in _SECRET_KEY_PARTS)
    }
    return AuditEvent.objects.create(
        kind=kind,
        user=user,
        user_label=(user.email if user is not None else "")[:254],
        application=application if application is not None and application.pk else None,
        application_label=(f"{application.name} ({application.client_id})" if application is not None else "")[:255],
        ip_address=address,
        user_agent=user_agent,
        details=clean,
    )


def audit_prune(*, older_than_days: int) -> int:
    """Delete the audit events older than `older_than_days` days; returns how many went."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise ValidationError(f"Keep audit events at least 1 day; got {older_than_days!r}.")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
