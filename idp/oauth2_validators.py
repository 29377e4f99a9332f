"""Taskgate's rules for django-oauth-toolkit (OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"])."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from idp.models import Application
from idp.resources import refuse_unserved_resources
from idp.services import application_mark_used


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

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        """RFC 8707 §2: the grant is bound only to a resource we serve.

        ConsentView refuses others before the consent page; this also covers
        the consent form's hidden `resource` field, which a browser can change.
        """
        refuse_unserved_resources(getattr(request, "resource", None) or [], request=request)
        return super().save_authorization_code(client_id, code, request, *args, **kwargs)

    def _check_and_set_request_resource(self, request):
        """RFC 8707 §2: the token's audience, requested at the token endpoint or
        carried over from the grant or refresh token, is a resource we serve."""
        super()._check_and_set_request_resource(request)
        refuse_unserved_resources(request.resource, request=request)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        super()._save_bearer_token(token, request, *args, **kwargs)
        if isinstance(request.client, Application):
            application_mark_used(application=request.client)
