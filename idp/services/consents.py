"""People's consents: the "Connected apps" of /account."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_grant_model,
    get_id_token_model,
)

from idp.models import Application, Consent
from idp.services.apps import APPLICATION_LAST_USED_RESOLUTION, application_revoke_tokens

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
