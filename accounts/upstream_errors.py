"""Why an upstream login was refused: a reason for the log, a sentence for the person.

Apart from accounts.upstream (the relying party) so that the service that
links accounts (accounts.services.external_identity_login) can raise it
without importing the relying party, which calls that service.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from django.conf import settings

_SENTENCES = {
    "discovery_failed": (
        "Signing in with {name} is not available right now: its configuration could not be read. "
        "Try again later, or tell the site's administrator."
    ),
    "state_mismatch": (
        "That sign-in with {name} does not match this browser: it may have expired or been started in "
        "another tab. Please start again."
    ),
    "upstream_denied": "The sign-in at {name} was cancelled or refused, so you are not logged in.",
    "upstream_error": "{name} could not sign you in (it answered “{code}”). Please start again.",
    "missing_code": "{name} sent you back without a sign-in result. Please start again.",
    "wrong_issuer": "The sign-in response did not come from {name}, so it was refused.",
    "wrong_audience": "The sign-in response from {name} was meant for another site, so it was refused.",
    "bad_signature": "The sign-in response from {name} failed its signature check, so it was refused.",
    "expired": (
        "The sign-in response from {name} has expired or is not valid yet, so it was refused. Please start "
        "again; if this keeps happening, a server clock is wrong."
    ),
    "nonce_mismatch": (
        "The sign-in response from {name} does not belong to this sign-in attempt, so it was refused. "
        "Please start again."
    ),
    "token_refused": "{name} refused to complete the sign-in. Please start again.",
    "upstream_unreachable": "{name} could not be reached to complete the sign-in. Try again in a moment.",
    "invalid_response": "{name} sent a sign-in response that could not be understood, so it was refused.",
    "email_missing": "{name} did not share a usable email address, which an account here needs.",
    "email_taken": (
        "An account with the address {email} already exists here, and your {name} login is not linked to it. "
        "Ask the site's administrator to link them."
    ),
    "email_unverified": (
        "{name} has not confirmed that {email} is yours, so your login cannot be linked to the account here "
        "with that address. Confirm the address at {name}, then try again."
    ),
    "local_email_unverified": (
        "The account here with the address {email} has not confirmed it, so it cannot be linked to your "
        "{name} login. Ask the site's administrator for help."
    ),
    "create_disabled": (
        "There is no account here for your {name} login, and new accounts are not created automatically. "
        "Ask the site's administrator to invite you."
    ),
    "inactive": "This account is disabled. Ask the site's administrator for help.",
    "concurrent_first_login": (
        "Your account was being set up by another sign-in at the same moment. Please sign in again."
    ),
}

# RFC 6749 §4.1.2.1: error codes are printable ASCII without quotes or backslash; we show only plain ones.
ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class UpstreamLoginError(Exception):
    """Why an upstream login was refused: `reason` and `detail` for the log, `sentence` for the person."""

    def __init__(self, reason: str, *, detail: str = "", **params: str) -> None:
        if reason not in _SENTENCES:
            raise ValueError(f"Unknown upstream login failure {reason!r}.")
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.params = params

    @property
    def sentence(self) -> str:
        return _SENTENCES[self.reason].format(name=upstream_name(), **self.params)

    @property
    def log_level(self) -> int:
        # The site cannot log anyone in through the upstream: that is the operator's problem, not the person's.
        return logging.ERROR if self.reason == "discovery_failed" else logging.WARNING

    @classmethod
    def from_authorization_error(cls, code: str) -> UpstreamLoginError:
        """RFC 6749 §4.1.2.1 / OpenID Connect Core §3.1.2.6: the upstream's error response.

        Only the code is kept: `error_description` is text a third party
        chose, and is neither shown nor logged.
        """
        if code == "access_denied":
            return cls("upstream_denied", detail="error=access_denied")
        shown = code if ERROR_CODE.fullmatch(code) else "unknown error"
        return cls("upstream_error", detail=f"error={shown}", code=shown)


def upstream_name() -> str:
    """The upstream's name on our pages: UPSTREAM_OIDC_NAME, else the issuer's host."""
    return settings.UPSTREAM_OIDC_NAME or urlsplit(settings.UPSTREAM_OIDC_ISSUER).hostname or "the upstream provider"
