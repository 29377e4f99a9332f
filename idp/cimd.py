"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document).

DOT fetches the document (OAUTH2_PROVIDER["CIMD_METADATA_FETCHER"]) with its
SSRF guards: https only, public addresses only, no redirects, size and time
limits; it checks that the document's `client_id` is its URL and that
`redirect_uris` are given, and caches it by its Cache-Control header. This
fetcher adds the checks DOT leaves out.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from idp.validators import is_loopback_host


class MetadataFetcher(SafeMetadataFetcher):
    def fetch(self, client_id: str) -> tuple[dict, int]:
        if settings.IDP_CIMD_ALLOW_LOOPBACK and is_loopback_host(urlsplit(client_id).hostname):
            metadata, max_age = self._fetch_from_loopback(client_id)
        else:
            metadata, max_age = super().fetch(client_id)
        # §4.1: the document names the client; people see the name on the consent page.
        name = metadata.get("client_name")
        if not isinstance(name, str) or not name.strip():
            raise CIMDError("client metadata must include a client_name")
        return metadata, max_age

    def _fetch_from_loopback(self, client_id: str) -> tuple[dict, int]:
        """Tests only (IDP_CIMD_ALLOW_LOOPBACK, refused outside debug): the
        document at https://127.0.0.1:<port>/<path> is read over plain http
        from that port, with the same limits on time, size and redirects."""
        parts = urlsplit(client_id)
        timeout = oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        pool = urllib3.HTTPConnectionPool(
            parts.hostname, parts.port or 80, timeout=urllib3.Timeout(total=timeout), retries=False, maxsize=1
        )
        try:
            response = pool.urlopen(
                "GET",
                parts.path + (f"?{parts.query}" if parts.query else ""),
                headers={"Accept": "application/json"},
                redirect=False,
                preload_content=False,
            )
            try:
                return self._read_document(response)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise CIMDError(f"could not fetch client_id document: {exc}") from exc
        finally:
            pool.close()
