"""What every page's layout needs to know (settings TEMPLATES)."""

from __future__ import annotations

from accounts.selectors import signup_enabled


def signup(request) -> dict[str, bool]:
    return {"signup_enabled": signup_enabled()}
