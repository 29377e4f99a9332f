"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document).

DOT fetches the document (OAUTH2_PROVIDER["CIMD_METADATA_FETCHER"], this
fetcher) and registers the app from it: it checks that the document's
`client_id` is its URL and that `redirect_uris` are given, and caches it by
its Cache-Control header. DOT 3.4 refuses every document that declares a
grant type besides the code and refresh grants (Claude's) or an
authentication method other than `none` (ChatGPT's): its issues #1855 and
#1857. This fetcher therefore hands DOT the document as we accept it,
narrowed to what we serve (idp.client_metadata, RFC 7591 §2), and records
the client's keys when it authenticates with private_key_jwt (DOT's
Application has no room for them).

A refusal is logged in one sentence and kept (as long as DOT's backoff) for
the error page at /idp, which then says why rather than "not registered".
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.core.exceptions import ValidationError
from oauth2_provider.cimd import CIMDError, is_cimd_client_id
from oauth2_provider.settings import oauth2_settings

from idp.client_metadata import ClientMetadataError, client_metadata_accept
from idp.fetch import GuardedFetcher
from idp.services.client_keys import client_keys_record
from idp.validators import validate_redirect_uris

log = logging.getLogger(__name__)


def _refusal_key(client_id: str) -> str:
    return "idp:cimd:refused:" + hashlib.sha256(client_id.encode()).hexdigest()


def cimd_refusal(client_id: str | None) -> str | None:
    """Why the metadata document at `client_id` was refused lately, if it was."""
    if not client_id or not is_cimd_client_id(client_id):
        return None
    return cache.get(_refusal_key(client_id))


class MetadataFetcher(GuardedFetcher):
    def fetch(self, client_id: str) -> tuple[dict, int]:
        try:
            metadata, max_age = super().fetch(client_id)
            accepted = _accept(client_id, metadata)
        except CIMDError as error:
            reason = str(error)
            log.warning("Client metadata document %s refused: %s", client_id, reason)
            cache.set(_refusal_key(client_id), reason, oauth2_settings.CIMD_FAILURE_BACKOFF_SECONDS)
            raise
        if accepted.ignored:
            log.info(
                "Client metadata document %s: ignored what we do not serve (%s).",
                client_id,
                accepted.describe_ignored(),
            )
        client_keys_record(client_id=client_id, metadata=accepted)
        cache.delete(_refusal_key(client_id))
        # What DOT's registration accepts: a public client with the code grant.
        # How it really authenticates is in ClientKeys, just recorded.
        return {
            **metadata,
            "grant_types": accepted.grant_types,
            "response_types": accepted.response_types,
            "token_endpoint_auth_method": "none",
        }, max_age


def _accept(client_id: str, metadata: dict):
    """The checks DOT makes after fetching, made first so that nothing is recorded for a
    document DOT would refuse, and so that each refusal has its sentence."""
    if metadata.get("client_id") != client_id:
        raise CIMDError("its client_id is not the URL it was fetched from")
    # §4.1: the document names the client; people see the name on the consent page.
    name = metadata.get("client_name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise CIMDError("it must include a client_name of 1 to 255 characters")
    if "client_secret" in metadata or "client_secret_expires_at" in metadata:
        raise CIMDError("it must not include a client_secret (CIMD §4.1)")
    redirect_uris = metadata.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(isinstance(u, str) for u in redirect_uris):
        raise CIMDError("its redirect_uris must be a non-empty array of strings")
    try:
        validate_redirect_uris(redirect_uris)
    except ValidationError as error:
        raise CIMDError(" ".join(error.messages)) from None
    try:
        return client_metadata_accept(metadata, metadata_document=True)
    except ClientMetadataError as error:
        raise CIMDError(error.description) from None
