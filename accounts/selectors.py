"""Reads for accounts."""

from __future__ import annotations

from django.conf import settings


def signup_enabled() -> bool:
    """Sign-up is on unless ALLOW_SIGNUP=0, and never when only the upstream provider logs people in."""
    return settings.ALLOW_SIGNUP and not settings.UPSTREAM_OIDC_ONLY
