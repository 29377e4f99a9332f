from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication, ApplicationManager

# The audit log's model lives with its writer (idp.audit), which has no provider
# import so that accounts can use it; imported here so that Django registers it.
from idp.audit import AuditEvent  # noqa: F401
from idp.validators import is_gpt_action_callback, is_loopback_host, validate_redirect_uris


class Application(AbstractApplication):
    """A connected app: a third party that acts for people with their consent.

    Swapped in for DOT's model (OAUTH2_PROVIDER_APPLICATION_MODEL) before the
    first migration.
    """

    authorization_grant_type = models.CharField(
        max_length=44,
        choices=[(AbstractApplication.GRANT_AUTHORIZATION_CODE, "Authorization code")],
        default=AbstractApplication.GRANT_AUTHORIZATION_CODE,
        verbose_name="authorization grant type",
    )
    # ID tokens are signed with the provider's RSA key (RS256), never with the
    # client secret (HS256), so that any client can check them against the JWKS.
    algorithm = models.CharField(
        max_length=5,
        choices=[(AbstractApplication.RS256_ALGORITHM, "RSA with SHA-2 256")],
        default=AbstractApplication.RS256_ALGORITHM,
        verbose_name="algorithm",
    )
    description = models.TextField(blank=True, help_text="Shown to people on the consent page.")
    homepage_url = models.URLField(blank=True, max_length=500, verbose_name="homepage URL")
    logo_url = models.URLField(
        blank=True, max_length=500, verbose_name="logo URL", help_text="An https image shown on the consent page."
    )
    first_party = models.BooleanField(default=False, help_text="Our own app: people are not asked for consent.")
    # The admin's choice, for a confidential client; the rule applied is pkce_required.
    require_pkce_if_confidential = models.BooleanField(
        "require PKCE",
        default=True,
        help_text="Turn off only for confidential clients that cannot send PKCE, such as GPT Actions.",
    )
    allowed_scopes = models.CharField(
        max_length=500, blank=True, help_text="Space-separated scopes this app may ask for; blank allows all."
    )
    is_enabled = models.BooleanField(
        "enabled", default=True, help_text="A disabled app can neither start an authorization nor get tokens."
    )
    last_used_at = models.DateTimeField(
        "last used", null=True, blank=True, editable=False, help_text="When the app last got a token."
    )

    objects = ApplicationManager()

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"

    @property
    def skip_authorization(self) -> bool:
        """DOT's name for "skip the consent page", which we grant first-party apps only."""
        return self.first_party

    @property
    def is_self_registered(self) -> bool:
        """Registered by the client itself (RFC 7591, or a metadata document), not by an admin."""
        return self.registration_source != self.RegistrationSource.MANUAL

    @property
    def is_public(self) -> bool:
        return self.client_type == self.CLIENT_PUBLIC

    @property
    def pkce_required(self) -> bool:
        """Whether PKCE is required of this client: always of a public one, which cannot keep a
        secret, so PKCE is its only proof (OAuth 2.1 §7.5.1); of a confidential one, as the admin chose."""
        return self.is_public or self.require_pkce_if_confidential

    @property
    def is_gpt_action(self) -> bool:
        """Made for a custom GPT's action (idp.services.gpt_actions): a confidential client that
        does not require PKCE, which GPT Actions do not send (its secret and exact redirect URIs
        protect it instead), sent back to the GPT editor's callback, or to none yet: the editor
        shows its callback URL only after the app's credentials are saved."""
        uris = self.redirect_uri_list()
        return not self.pkce_required and (not uris or any(is_gpt_action_callback(uri) for uri in uris))

    @property
    def gpt_action_scope(self) -> str:
        """The scope to paste into the GPT editor: the app's allowed scopes, or the task scopes
        (what the API's actions need) when it allows all."""
        return self.allowed_scopes or " ".join(settings.TASK_SCOPES)

    def redirect_uri_list(self) -> list[str]:
        return self.redirect_uris.split()

    def redirect_uri_allowed(self, uri: str) -> bool:
        """RFC 9700 §2.1: "exact string matching", except the port of a loopback URI (RFC 8252 §7.3).

        DOT compares the host case-insensitively (https://CLIENT.example.com
        passes for https://client.example.com); we compare the string as
        registered.
        """
        if not super().redirect_uri_allowed(uri):
            return False
        return any(_without_loopback_port(uri) == _without_loopback_port(known) for known in self.redirect_uri_list())

    def is_usable(self, request) -> bool:
        return self.is_enabled and super().is_usable(request)

    def clean(self) -> None:
        errors: dict[str, list] = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        try:
            validate_redirect_uris(self.redirect_uri_list())
        except ValidationError as exc:
            # Ours say what to do; they replace DOT's for the same field.
            errors["redirect_uris"] = exc.error_list
        if not self.require_pkce_if_confidential and self.is_public:
            errors["require_pkce_if_confidential"] = [
                "A public client has no secret: PKCE is its only proof and cannot be turned off."
            ]
        if self.logo_url and not self.logo_url.startswith("https://"):
            errors["logo_url"] = ["Use an https URL for the logo."]
        if errors:
            raise ValidationError(errors)


def _without_loopback_port(uri: str) -> str:
    """The URI with its port removed when its host is a loopback one (native apps pick a free port)."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or not is_loopback_host(parts.hostname):
        return uri
    return parts._replace(netloc=re.sub(r":[0-9]*$", "", parts.netloc)).geturl()


class RedeemedCode(models.Model):
    """An authorization code that was exchanged, kept (as a checksum) to catch its replay.

    RFC 6749 §4.1.2: a code used more than once must be refused, and the
    tokens issued from it should be revoked. DOT deletes a code once used, so
    without this a replay is refused but the first tokens live on.
    """

    code_checksum = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey("idp.Application", on_delete=models.CASCADE, related_name="redeemed_codes")
    access_token_checksum = models.CharField(max_length=64)
    refresh_token_checksum = models.CharField(max_length=64, blank=True)
    redeemed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"code redeemed by {self.application_id} at {self.redeemed_at:%Y-%m-%d %H:%M}"


class SelfRegisteredApplicationManager(ApplicationManager):
    def get_queryset(self):
        return super().get_queryset().exclude(registration_source=Application.RegistrationSource.MANUAL)


class SelfRegisteredApplication(Application):
    """The apps clients registered themselves (DCR or CIMD), listed apart in the admin."""

    objects = SelfRegisteredApplicationManager()

    class Meta:
        proxy = True
        verbose_name = "self-registered app"


class Consent(models.Model):
    """A person's permission for a connected app to act for them, as /account shows it.

    DOT keeps no such record: it remembers consent only through live access
    tokens (REQUEST_APPROVAL_PROMPT "auto"). This one is written whenever an
    authorization code is issued to the app for the person, so it also tells
    when the app was first allowed, which scopes it was given, and when it
    last got or used a token. Revoking it (idp.services.consents.consent_revoke) ends
    the app's tokens too, so that the app must ask again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="consents"
    )
    scope = models.TextField(blank=True, help_text="The scopes given, space-separated.")
    first_allowed_at = models.DateTimeField("first allowed", default=timezone.now)
    last_used_at = models.DateTimeField(
        "last used", default=timezone.now, help_text="When the app last got or used a token (to within a minute)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "application"], name="idp_consent_user_application_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.application} for {self.user}"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


class ClientKeys(models.Model):
    """How a self-registered client that has no secret proves who it is: its keys.

    RFC 7523 §2.2 and OpenID Connect Core §9 (`private_key_jwt`): the client
    signs an assertion with a private key and publishes the public keys, at a
    `jwks_uri` or inline as `jwks`, in its metadata document or registration
    request. django-oauth-toolkit's Application has room for a secret only,
    so the method and where the keys are live here. Keyed by client_id rather
    than a foreign key: the metadata fetcher (idp.cimd) records them before
    DOT stores the app it registers at first sight. A client with no row
    here authenticates as its client type says (a secret, or none).
    """

    class Method(models.TextChoices):
        NONE = "none", "None (a public client with PKCE)"
        PRIVATE_KEY_JWT = "private_key_jwt", "A JWT signed with the client's private key"

    client_id = models.CharField(max_length=255, unique=True)
    token_endpoint_auth_method = models.CharField(max_length=32, choices=Method.choices)
    jwks_uri = models.CharField("JWKS URI", max_length=500, blank=True)
    jwks = models.JSONField("JWKS", null=True, blank=True)
    # OpenID Connect Registration §2: when set, assertions signed otherwise are refused.
    signing_alg = models.CharField("token endpoint auth signing alg", max_length=10, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "client keys"
        verbose_name_plural = "client keys"

    def __str__(self) -> str:
        return f"{self.client_id}: {self.token_endpoint_auth_method}"


class UsedClientAssertion(models.Model):
    """A client assertion's `jti`, kept until the assertion expires (RFC 7523 §3 item 7).

    Stored in the database so that every worker and instance sees it: an
    assertion replayed anywhere is refused. `clear_expired` deletes the rows
    of assertions that have expired, which can no longer be replayed anyway.
    """

    checksum = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the client ID and the jti.")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"assertion {self.checksum[:12]} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class AuthenticationContext(models.Model):
    """How and when a person logged in, for the tokens that login leads to.

    OpenID Connect Core §2: an ID token says when the person authenticated
    (`auth_time`) and how (`amr`, RFC 8176). The login is known in the
    browser's session; the token endpoint and userinfo are called by the
    app, without it. So the login's context is copied to the authorization
    code it approved (key "code:<checksum>"), and from there to each ID token
    issued (key "jti:<jti>"), which access tokens and refreshes point to.
    Only checksums of codes are kept, never a code.
    """

    key = models.CharField(max_length=100, unique=True)
    # The ID token's jti, for a login copied to an ID token: found by a plain comparison in the
    # statement that reads a refresh token or an access token (the token endpoint's budget).
    id_token_jti = models.UUIDField(null=True, blank=True, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    auth_time = models.DateTimeField()
    amr = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.key[:16]}: {' '.join(self.amr)} at {self.auth_time:%Y-%m-%d %H:%M:%S}"

    @staticmethod
    def code_key(code: str) -> str:
        """The key of the login behind an authorization code: its checksum, never the code."""
        return "code:" + hashlib.sha256(code.encode()).hexdigest()

    @staticmethod
    def jti_key(jti) -> str:
        """The key of the login behind an ID token: its jti (a UUID) as hex."""
        return f"jti:{uuid.UUID(str(jti)).hex}"


class ActivityRecord(models.Model):
    """One write to a task through the task API or /mcp: when, for whom, through which app,
    which operation (REST operation id or MCP tool name), on which task, and how it ended.

    Written by idp.activity.records inside the write's own transaction, so that
    a write that is rolled back leaves no record. Reads and refusals are only
    counted (ActivityCount). Kept for ACTIVITY_RETENTION_DAYS.
    """

    class Outcome(models.TextChoices):
        CREATED = "created", "added"
        EXISTING = "existing", "already added (same idempotency key)"
        UPDATED = "updated", "changed"
        UNCHANGED = "unchanged", "left unchanged"
        COMPLETED = "completed", "completed"
        DELETED = "deleted", "deleted"

    created_at = models.DateTimeField("when", default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="app",
        help_text="Empty: the person on the docs page, or an app since deleted (see the label).",
    )
    application_label = models.CharField("app (as recorded)", max_length=255, blank=True)
    operation = models.CharField(max_length=40, help_text="The REST operation id or the MCP tool name.")
    task_public_id = models.UUIDField("task id")
    task_title = models.CharField("task title (then)", max_length=200, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "application", "created_at"], name="idp_activity_user_app_idx"),
            models.Index(fields=["created_at"], name="idp_activity_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.get_outcome_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class ActivityCount(models.Model):
    """How often one figure happened in one hour for one app (`app_id` 0: no app known,
    e.g. a request without a valid token). Rolled up from the counters of idp.activity by
    `manage.py rollup_activity`; `app_id` is a plain number so that counts outlive a deleted app."""

    hour = models.DateTimeField()
    app_id = models.BigIntegerField(default=0)
    metric = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "app_id", "metric"], name="idp_activitycount_unique"),
        ]
        indexes = [models.Index(fields=["app_id", "hour"], name="idp_activitycount_app_idx")]

    def __str__(self) -> str:
        return f"{self.metric} of app {self.app_id} at {self.hour:%Y-%m-%d %H:00}: {self.count}"


class ActivityPerson(models.Model):
    """That a person used an app in an hour: their number per app and hour is the distinct people."""

    hour = models.DateTimeField()
    app_id = models.BigIntegerField(default=0)
    user_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "app_id", "user_id"], name="idp_activityperson_unique"),
        ]

    def __str__(self) -> str:
        return f"person {self.user_id} with app {self.app_id} at {self.hour:%Y-%m-%d %H:00}"
