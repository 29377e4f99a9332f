"""Taskgate's rules for django-oauth-toolkit (OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"])."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from idp.models import Application


class TaskgateOAuth2Validator(OAuth2Validator):
    def get_additional_claims(self):
        """OpenID Connect Core §5.4: claims by scope.

        `sub` is the user's random public subject, never the database id; the
        parent's `oidc_claim_scope` keeps `email*` for the `email` scope and
        `name`/`preferred_username` for `profile`. Written request-agnostic
        (one argument) so that discovery lists these claims.
        """
        return {
            "sub": lambda request: str(request.user.sub),
            "email": lambda request: request.user.email,
            "email_verified": lambda request: bool(request.user.email_verified),
            "name": lambda request: request.user.display_name,
            "preferred_username": lambda request: request.user.username,
        }

    def is_pkce_required(self, client_id, request) -> bool:
        """OAuth 2.1 §4.1.1 / RFC 9700 §2.1.1: PKCE for every public client, and
        for every confidential one unless an admin turned it off for it (GPT
        Actions do not send PKCE; they authenticate with their secret)."""
        client = request.client if isinstance(request.client, Application) else None
        if client is None or client.client_id != client_id:
            client = Application.objects.filter(client_id=client_id).first()
        # An unknown client fails later with invalid_client; require PKCE meanwhile.
        return client is None or client.pkce_required
