"""The bearer-token rule: may this access token be used at this resource, and for whom?

RFC 6750 (bearer tokens), RFC 8707 (audiences) and RFC 7662 (introspection)
ask the same question; every entry point asks it here and gets one answer:
the task API (tasks.authentication), /mcp (tasks.mcp_auth), userinfo
(TaskgateOAuth2Validator.validate_bearer_token) and introspection
(idp.views.IntrospectView).

A token is valid while it exists (a revoked token is deleted), has not
expired, acts for an active person and belongs to an enabled app. At a
resource, its audience must also name that resource: a token issued
without a `resource` is for the REST API and userinfo only, never /mcp; one
issued for a resource is for that one alone, never passed on.

A valid answer is kept per process (idp.token_cache) so that a token used
again costs no database round trip; every event that ends a token drops it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from idp import token_cache

UNKNOWN = "The access token is not valid: unknown or revoked."
EXPIRED = "The access token has expired."
USER_INACTIVE = "The access token's user cannot sign in any more."
APP_DISABLED = "The access token's app has been disabled."


@dataclass(frozen=True)
class Grant:
    """What a valid access token lets its holder do: act for `user` through the app,
    within `scopes`, at the resources of `audience` (none: the REST API and userinfo), until `expires`."""

    token_id: int
    user: object
    application_id: int
    client_id: str
    scope: str
    scopes: frozenset[str]
    audience: tuple[str, ...]
    expires: datetime

    def allow_scopes(self, scopes) -> bool:
        """DOT's name for "has all these scopes", which DRF permissions and our checks use."""
        return set(scopes) <= self.scopes

    def is_expired(self) -> bool:
        return timezone.now() >= self.expires

    def ended_by(self) -> tuple[tuple[str, int], ...]:
        """The database notices that end it (idp.token_cache): its token's, its person's, its app's."""
        return (("t", self.token_id), ("u", self.user.pk), ("a", self.application_id))

    def for_one_request(self) -> Grant:
        """A copy with a user of its own: a request may change its user, a cached grant may not change."""
        return Grant(**{**self.__dict__, "user": copy.copy(self.user)})


@dataclass(frozen=True)
class Verdict:
    """The grant of a token, or why it is refused (RFC 6750 §3.1 `invalid_token`)."""

    grant: Grant | None
    problem: str = ""

    @property
    def scopes(self) -> frozenset[str]:
        return self.grant.scopes if self.grant else frozenset()


def checksum(raw_token: str) -> str:
    """How tokens are stored and looked up (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE, as DOT does)."""
    return hashlib.sha256(raw_token.encode("utf-8", "surrogatepass")).hexdigest()


def audience_allows(audience: tuple[str, ...] | list[str], resource: str) -> bool:
    """RFC 8707 §2 at a resource of ours: exactly [`resource`], or none at all for any resource but /mcp.

    The MCP specification requires tokens "issued specifically for" the MCP
    server; the REST API and userinfo predate resource indicators.
    """
    if not audience:
        return resource != settings.MCP_RESOURCE_URL
    return list(audience) == [resource]


def bearer_verify(*, raw_token: str, resource: str | None) -> Verdict:
    """Whom `raw_token` acts for at `resource`, or why not.

    `resource` None asks about the token itself, whatever its audience
    (introspection, RFC 7662 §2.2, which reports the audience as `aud`).
    """
    key = checksum(raw_token)
    grant = token_cache.cache.get(key)
    if grant is None:
        # Taken before the read: a revocation noticed meanwhile keeps what was read out of the cache.
        sequence = token_cache.cache.sequence()
        verdict = _load(key)
        if verdict.grant is None:
            return verdict
        grant = verdict.grant
        token_cache.cache.put(key, grant, sequence=sequence)
    return _at(grant, resource)


def bearer_verify_from_memory(*, raw_token: str, resource: str | None) -> Verdict | None:
    """bearer_verify's answer when this process's cache holds it, or None when it takes the database.

    For async callers (/mcp): an answer from memory needs no trip to a
    database thread. The same rule: only the reading differs.
    """
    grant = token_cache.cache.get(checksum(raw_token))
    return None if grant is None else _at(grant, resource)


def _at(grant: Grant, resource: str | None) -> Verdict:
    """The verdict on a valid token's grant, at `resource`."""
    if grant.is_expired():
        return Verdict(None, EXPIRED)
    if resource is not None and not audience_allows(grant.audience, resource):
        named = "it was issued for another resource" if grant.audience else "it names no resource"
        return Verdict(None, f"The access token was not issued for {resource} (RFC 8707 resource): {named}.")
    return Verdict(grant.for_one_request())


def _load(key: str) -> Verdict:
    token = get_access_token_model().objects.select_related("application", "user").filter(token_checksum=key).first()
    if token is None:
        return Verdict(None, UNKNOWN)
    if token.is_expired():
        return Verdict(None, EXPIRED)
    if token.user is None or not token.user.is_active:
        return Verdict(None, USER_INACTIVE)
    if token.application is None or not token.application.is_enabled:
        return Verdict(None, APP_DISABLED)
    return Verdict(
        Grant(
            token_id=token.pk,
            user=token.user,
            application_id=token.application_id,
            client_id=token.application.client_id,
            scope=token.scope,
            scopes=frozenset(token.scope.split()),
            audience=tuple(token.resource or ()),
            expires=token.expires,
        )
    )
