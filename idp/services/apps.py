"""Writes for connected apps: creating them, their secrets, enabling, revoking their tokens, deleting them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    get_access_token_model,
    get_refresh_token_model,
)

from idp.audit import AuditEvent, audit_record
from idp.models import Application, ClientKeys, SelfRegisteredApplication
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


def application_validate(
    *,
    name: str,
    redirect_uris: list[str],
    public: bool = False,
    require_pkce_if_confidential: bool = True,
    scopes: list[str] | None = None,
    first_party: bool = False,
    description: str = "",
    homepage_url: str = "",
    logo_url: str = "",
    post_logout_redirect_uris: list[str] | None = None,
    allowed_origins: list[str] | None = None,
    is_enabled: bool = True,
    owner=None,
    registration_source: str = Application.RegistrationSource.MANUAL,
    allow_no_redirect_uris: bool = False,
) -> Application:
    """The app application_create would store, checked and not saved (it has no secret yet).

    Raises ValidationError, by field, on a bad name, redirect URI or scope, or
    on PKCE turned off for a public client. The admin's add form checks a new
    app with it, so that every way of creating one follows the same rules.
    With `allow_no_redirect_uris`, an app may start without redirect URIs (a
    GPT Action's callback URL is known only later); it cannot complete an
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
    application = Application(
        name=name.strip(),
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris or []),
        allowed_origins=" ".join(allowed_origins or []),
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        require_pkce_if_confidential=require_pkce_if_confidential,
        allowed_scopes=" ".join(scopes or []),
        first_party=first_party,
        description=description,
        homepage_url=homepage_url,
        logo_url=logo_url,
        is_enabled=is_enabled,
        user=owner,
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
    return application


@transaction.atomic
def application_create(*, actor=None, request=None, **fields) -> IssuedCredentials:
    """Create a connected app and return its credentials, the secret in clear this once.

    `fields` are application_validate's; on a ValidationError nothing is written.
    """
    application = application_validate(**fields)
    secret = None if application.is_public else generate_client_secret()
    application.client_secret = secret or ""
    application.save()
    audit_record(
        kind=AuditEvent.Kind.APP_CREATED
        if application.registration_source == Application.RegistrationSource.MANUAL
        else AuditEvent.Kind.APP_REGISTERED,
        user=actor,
        application=application,
        request=request,
        source=application.registration_source,
    )
    return IssuedCredentials(application=application, client_secret=secret)


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
