"""Reads for the provider's pages: a person's connected apps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oauth2_provider.scopes import get_scopes_backend

from idp.models import Application, Consent


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
