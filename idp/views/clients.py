"""Who a request to the token or introspection endpoint says it is, and the keys its rate limits count by."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from django.http import HttpRequest

from idp.client_assertions import assertion_issuer
from idp.ratelimit import client_address


def limit_keys(request: HttpRequest) -> list[str]:
    """What a limit counts by: the address, and the client_id the request names (if any)."""
    keys = [f"address:{client_address(request)}"]
    client_id = request_client_id(request)
    if client_id:
        keys.append(f"client:{client_id}")
    return keys


def request_client_id(request: HttpRequest) -> str | None:
    """The client_id a request authenticated with: HTTP Basic, the form body, or
    the issuer of its client assertion (RFC 7521 §4.2, which makes client_id optional)."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(decoded.partition(":")[0])
    return request.POST.get("client_id") or assertion_issuer(request.POST.get("client_assertion"))
