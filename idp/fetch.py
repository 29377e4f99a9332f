"""Fetching a client's published JSON (its metadata document, its keys) without SSRF.

django-oauth-toolkit's SafeMetadataFetcher does the guarded GET: https only,
every resolved address public, the connection made to the address checked,
no redirects, CIMD_FETCH_TIMEOUT_SECONDS for the whole fetch and
CIMD_MAX_DOCUMENT_SIZE bytes at most, JSON only, and a cache lifetime from
Cache-Control. Both a metadata document (idp.cimd) and a JWKS
(idp.client_assertions) come through here, under the same limits.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from idp.validators import is_loopback_host


class GuardedFetcher(SafeMetadataFetcher):
    """`fetch(url)` returns `(json_object, max_age_seconds)` or raises CIMDError."""

    def fetch(self, url: str) -> tuple[dict, int]:
        if settings.IDP_CIMD_ALLOW_LOOPBACK and is_loopback_host(urlsplit(url).hostname):
            return self._fetch_from_loopback(url)
        return super().fetch(url)

    def _fetch_from_loopback(self, url: str) -> tuple[dict, int]:
        """Tests only (IDP_CIMD_ALLOW_LOOPBACK, refused outside debug): the
        document at https://127.0.0.1:<port>/<path> is read over plain http
        from that port, with the same limits on time, size and redirects."""
        parts = urlsplit(url)
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
            raise CIMDError(f"could not fetch {url}: {exc}") from exc
        finally:
            pool.close()
