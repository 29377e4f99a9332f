"""Checks on what clients register: redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC 9700 §2.1)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback_host(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK_HOSTS


# The GPT editor's callback URL: https://chatgpt.com/aip/<GPT id>/oauth/callback, on either host.
GPT_ACTION_CALLBACK_HOSTS = ("chat.openai.com", "chatgpt.com")
GPT_ACTION_CALLBACK_PATH = re.compile(r"/aip/[A-Za-z0-9_-]{1,100}/oauth/callback")


def is_gpt_action_callback(uri: str) -> bool:
    """A GPT editor callback URL exactly: https, one of ChatGPT's hosts with no port or
    user name, the /aip/<GPT id>/oauth/callback path, no query or fragment."""
    parts = urlsplit(uri.strip())
    return (
        parts.scheme == "https"
        # The whole authority: no port, no user name or password.
        and parts.netloc.lower() in GPT_ACTION_CALLBACK_HOSTS
        and not parts.query
        and not parts.fragment
        and GPT_ACTION_CALLBACK_PATH.fullmatch(parts.path) is not None
    )


def validate_redirect_uri(uri: str) -> None:
    """Raise ValidationError unless `uri` may be registered as a redirect URI.

    RFC 6749 §3.1.2: absolute, no fragment. RFC 9700 §2.1: https, except http
    on a loopback address for native apps and MCP clients (RFC 8252 §7.3).
    """
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ValidationError(f"{uri!r} is not a valid URL.", code="invalid_redirect_uri") from None
    del port
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(
            f"{uri!r} must be an absolute https URL (http only on 127.0.0.1, [::1] or localhost).",
            code="invalid_redirect_uri",
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValidationError(
            f"{uri!r} uses http on a host other than 127.0.0.1, [::1] or localhost; use https.",
            code="invalid_redirect_uri",
        )
    if parts.fragment or "#" in uri:
        raise ValidationError(f"{uri!r} must not contain a fragment (#...).", code="invalid_redirect_uri")
    if parts.username or parts.password:
        raise ValidationError(f"{uri!r} must not contain a user name or password.", code="invalid_redirect_uri")
    if any(ch.isspace() for ch in uri):
        raise ValidationError(f"{uri!r} must not contain spaces.", code="invalid_redirect_uri")
    if "*" in parts.netloc:
        raise ValidationError(f"{uri!r} must not contain wildcards.", code="invalid_redirect_uri")


def validate_redirect_uris(uris: list[str]) -> None:
    errors = []
    for uri in uris:
        try:
            validate_redirect_uri(uri)
        except ValidationError as exc:
            errors.extend(exc.error_list)
    if errors:
        raise ValidationError(errors)
