"""The authentication backends, by the dotted path Django records on a logged-in user (`user.backend`).

config/settings.py installs them from here; the second factor and the audit
log tell a login's way in by them. Plain strings, so that settings can import
this module before any app is loaded.
"""

from __future__ import annotations

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
UPSTREAM_BACKEND = "accounts.upstream.UpstreamOIDCBackend"
PASSKEY_BACKEND = "django_otp_webauthn.backends.WebAuthnBackend"

# How the audit log names each way in.
LOGIN_METHODS = {MODEL_BACKEND: "password", UPSTREAM_BACKEND: "upstream", PASSKEY_BACKEND: "passkey"}
