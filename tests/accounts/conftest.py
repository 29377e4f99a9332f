from __future__ import annotations

import pytest

from tests.upstream import FakeUpstream


@pytest.fixture
def fake_upstream():
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def upstream_settings(settings, fake_upstream):
    """Upstream login configured as the UPSTREAM_OIDC_* variables would, against the fake upstream."""
    from django.core.cache import cache

    settings.UPSTREAM_OIDC_ISSUER = fake_upstream.issuer
    settings.UPSTREAM_OIDC_NAME = "Acme ID"
    settings.OIDC_RP_CLIENT_ID = fake_upstream.client_id
    settings.OIDC_RP_CLIENT_SECRET = fake_upstream.client_secret
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
        "accounts.upstream.UpstreamOIDCBackend",
    ]
    # The discovery document is cached by issuer; every test starts from nothing.
    cache.clear()
    yield settings
    cache.clear()
