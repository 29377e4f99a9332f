"""Taskgate's rules for django-oauth-toolkit (OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"])."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from idp.models import Application, RedeemedCode
from idp.resources import refuse_unserved_resources
from idp.services import application_mark_used

log = logging.getLogger(__name__)

# RFC 7636 §4.1: code-verifier = 43*128unreserved
CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


# Set by idp.views.TokenView in the request's META (which DOT hands to
# oauthlib as its headers); no client can send it (clients' headers arrive as HTTP_*).
REFRESH_SEEN_ACTIVE = "taskgate.refresh_token_seen_active"


def checksum(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def refresh_token_is_active(raw: str) -> bool:
    """Whether an unrevoked refresh token with this value exists, as committed now."""
    return get_refresh_token_model().objects.filter(token_checksum=checksum(raw), revoked__isnull=True).exists()


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

    def get_code_challenge(self, code, request):
        """RFC 7636 §4.1 and OAuth 2.1 §4.1.3: checks on the code_verifier, next to the challenge.

        A verifier must be 43 to 128 unreserved characters, and a token
        request must not carry one for a code issued without a challenge
        (oauthlib accepts both).
        """
        challenge = super().get_code_challenge(code, request)
        verifier = request.code_verifier
        if challenge is None and verifier is not None:
            raise errors.InvalidGrantError(
                description="A code_verifier was sent for a code issued without a code_challenge.", request=request
            )
        if challenge is not None and verifier is not None and not CODE_VERIFIER.fullmatch(verifier):
            raise errors.InvalidGrantError(
                description="code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'.",
                request=request,
            )
        return challenge

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, *args, **kwargs):
        """RFC 6749 §5.2: a redirect_uri that differs from the authorization request's is `invalid_grant`.

        oauthlib answers `invalid_request` (MismatchingRedirectURIError).
        """
        if super().confirm_redirect_uri(client_id, code, redirect_uri, client, *args, **kwargs):
            return True
        request = args[0] if args else kwargs.get("request")
        if redirect_uri is None:
            return False  # missing: oauthlib's invalid_request is right (RFC 6749 §4.1.3 "REQUIRED")
        raise errors.InvalidGrantError(
            description="redirect_uri differs from the one of the authorization request.", request=request
        )

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """RFC 6749 §6 and RFC 9700 §4.14.2: one rotation per refresh token, even under concurrency.

        The token's row is locked for the request's transaction, so that of
        concurrent requests exactly one rotates it (on PostgreSQL the others
        wait here; SQLite's IMMEDIATE transactions already run one at a
        time). A request that found the token active when it arrived but
        finds it rotated once it holds the lock, or that presents it within
        IDP_REFRESH_RETRY_SECONDS of its rotation, is a concurrent duplicate
        (a client's retry of one refresh), not proof of theft: it gets
        `invalid_grant` and the winner's new pair stays valid. A token
        presented later than that is a reuse, and DOT revokes its whole
        family (REFRESH_TOKEN_REUSE_PROTECTION).
        """
        rows = list(
            get_refresh_token_model().objects.select_for_update().filter(token_checksum=checksum(refresh_token))
        )
        seen_active = request.headers.get(REFRESH_SEEN_ACTIVE) == "1"
        window = timedelta(seconds=settings.IDP_REFRESH_RETRY_SECONDS)
        rotated_just_now = [
            row
            for row in rows
            if row.revoked is not None
            and timezone.now() - row.revoked < window
            and get_access_token_model().objects.filter(source_refresh_token=row).exists()
        ]
        if rows and all(row.revoked is not None for row in rows) and (seen_active or rotated_just_now):
            log.info("Concurrent refresh of one refresh token by client %s: refused, family kept.", client.client_id)
            return False
        return super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)

    def save_bearer_token(self, token, request, *args, **kwargs):
        super().save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code":
            # Remembered for invalidate_authorization_code, which oauthlib calls next.
            request.taskgate_issued = (checksum(token["access_token"]), checksum(token.get("refresh_token") or ""))

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        access_checksum, refresh_checksum = getattr(request, "taskgate_issued", ("", ""))
        RedeemedCode.objects.create(
            code_checksum=checksum(code),
            application=request.client,
            access_token_checksum=access_checksum,
            refresh_token_checksum=refresh_checksum if refresh_checksum != checksum("") else "",
        )

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """RFC 6749 §4.1.2: a code used twice is refused, and what it issued is revoked."""
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            return True
        redeemed = RedeemedCode.objects.filter(code_checksum=checksum(code), application=client).first()
        if redeemed is not None:
            log.warning("Authorization code replayed by client %s: revoking the tokens it issued.", client.client_id)
            self._revoke_issued_from(redeemed)
        return False

    @staticmethod
    def _revoke_issued_from(redeemed: RedeemedCode) -> None:
        refresh = get_refresh_token_model().objects.filter(token_checksum=redeemed.refresh_token_checksum).first()
        if redeemed.refresh_token_checksum and refresh is not None:
            # The family also holds every token rotated from it since.
            get_refresh_token_model().revoke_family(refresh.token_family)
        get_access_token_model().objects.filter(token_checksum=redeemed.access_token_checksum).delete()

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
