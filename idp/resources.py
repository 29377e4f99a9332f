"""The resources this provider issues tokens for (RFC 8707 resource indicators)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error


def refuse_unserved_resources(resources: Iterable[str], *, request=None, state: str | None = None) -> None:
    """RFC 8707 §2: answer `invalid_target` for a resource we do not serve.

    We serve settings.IDP_RESOURCES, compared exactly as written there, and a
    token names at most one of them: an audience of two services would let
    either replay the token at the other.
    """
    resources = list(resources)
    served = ", ".join(settings.IDP_RESOURCES)
    unserved = [resource for resource in resources if resource not in settings.IDP_RESOURCES]
    if unserved:
        description = f"This server issues tokens only for {served}; it does not serve {unserved[0]}."
    elif len(resources) > 1:
        description = f"Ask for one resource per token, one of {served}."
    else:
        return
    raise CustomOAuth2Error(error="invalid_target", description=description, request=request, state=state)
