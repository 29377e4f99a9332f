"""Taskgate's rules for django-oauth-toolkit (OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"])."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from oauth2_provider import cimd
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from idp.authentication import (
    REQUEST_ATTRIBUTE,
    authentication_for_access_token,
    authentication_for_token_request,
    authentication_link_code,
    authentication_link_id_token,
)
from idp.client_assertions import ASSERTION_TYPE, ClientAssertionError, assertion_issuer, client_assertion_verify
from idp.models import Application, AuditEvent, ClientKeys, RedeemedCode
from idp.resources import refuse_unserved_resources
from idp.services import application_mark_used, audit_record, consent_mark_used, consent_record

log = logging.getLogger(__name__)

# RFC 7636 §4.1: code-verifier = 43*128unreserved
CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


# Set by idp.views.TokenView in the request's META (which DOT hands to
# oauthlib as its headers); no client can send it (clients' headers arrive as HTTP_*).
REFRESH_SEEN_ACTIVE = "taskgate.refresh_token_seen_active"


def _assertion_parameters(request) -> tuple[str | None, str | None]:
    """The RFC 7521 §4.2 parameters of a request: client_assertion_type and client_assertion."""
    return getattr(request, "client_assertion_type", None), getattr(request, "client_assertion", None)


def checksum(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def refresh_token_is_active(raw: str) -> bool:
    """Whether an unrevoked refresh token with this value exists, as committed now."""
    return get_refresh_token_model().objects.filter(token_checksum=checksum(raw), revoked__isnull=True).exists()


def _authentication(request):
    """How and when the person behind this token request or userinfo call logged in (idp.authentication).

    Looked up once per request: every claim asks.
    """
    found = getattr(request, "taskgate_authentication_found", None)
    if found is None:
        access_token = getattr(request, "access_token", None)
        if isinstance(access_token, get_access_token_model()):
            authentication = authentication_for_access_token(access_token)  # userinfo
        else:
            authentication = authentication_for_token_request(request)
        found = request.taskgate_authentication_found = (authentication,)
    return found[0]


class TaskgateOAuth2Validator(OAuth2Validator):
    # OpenID Connect Core §2 and RFC 8176: how the person logged in, in every
    # ID token and userinfo answer (the `openid` scope is always there).
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "amr": "openid", "auth_time": "openid"}

    # --- Client authentication: secrets (DOT), none (public clients), private_key_jwt (ours)

    def client_authentication_required(self, request, *args, **kwargs):
        """RFC 7523 §2.2: a request carrying a client assertion is authenticated
        with it, and a client that registered keys must always send one; it
        cannot fall back to being a public client (so a refresh token it got
        with its key is of no use without the key)."""
        if _assertion_parameters(request) != (None, None):
            return True
        if super().client_authentication_required(request, *args, **kwargs):
            return True
        return self._client_keys(request) is not None

    def authenticate_client(self, request, *args, **kwargs):
        """RFC 6749 §2.3.1 (a secret, DOT's part) or RFC 7523 §2.2 (`private_key_jwt`).

        A client uses one method per request (RFC 6749 §2.3): an assertion
        beside a secret is refused. A client that registered keys can only
        authenticate with them.
        """
        assertion_type, assertion = _assertion_parameters(request)
        if assertion_type is None and assertion is None:
            authenticated = super().authenticate_client(request, *args, **kwargs)
            if authenticated and self._client_keys(request) is not None:
                log.info("Client %s registered keys (private_key_jwt) but sent no assertion.", request.client_id)
                return False
            return authenticated
        return self._authenticate_client_assertion(request, assertion_type, assertion)

    def _authenticate_client_assertion(self, request, assertion_type, assertion) -> bool:
        if assertion_type != ASSERTION_TYPE or not isinstance(assertion, str):
            log.info("Client assertion refused: client_assertion_type must be %s.", ASSERTION_TYPE)
            return False
        if self._extract_basic_auth(request) or getattr(request, "client_secret", None):
            log.info("Client assertion refused: a client authenticates with one method only (RFC 6749 §2.3).")
            return False
        issuer = assertion_issuer(assertion)
        client_id = request.client_id or issuer
        if not client_id or issuer != client_id:
            log.info("Client assertion refused: its iss is not the client_id of the request (RFC 7523 §3).")
            return False
        if self._load_application(client_id, request) is None:
            return False
        keys = self._client_keys(request)
        if keys is None:
            log.info("Client assertion refused: client %s registered no keys (private_key_jwt).", client_id)
            return False
        endpoint = settings.SITE_URL + urlsplit(request.uri).path
        audiences = list(dict.fromkeys([settings.SITE_URL, settings.SITE_URL + reverse("idp:token"), endpoint]))
        try:
            client_assertion_verify(assertion=assertion, client_id=client_id, keys=keys, audiences=audiences)
        except ClientAssertionError as error:
            log.info("Client assertion of %s refused: %s.", client_id, error)
            return False
        request.client_id = client_id
        return True

    @staticmethod
    def _client_keys(request) -> ClientKeys | None:
        """The keys the request's client (request.client) authenticates with, if it registered any.

        Consulted for self-registered apps only: an admin's app authenticates
        with its secret, whatever a row keyed by its client_id might say.
        Looked up once per request: oauthlib asks more than once.
        """
        client = request.client
        if not isinstance(client, Application) or not client.is_self_registered:
            return None
        looked_up = getattr(request, "taskgate_client_keys", None)
        if looked_up is None or looked_up[0] != client.client_id:
            keys = ClientKeys.objects.filter(
                client_id=client.client_id, token_endpoint_auth_method=ClientKeys.Method.PRIVATE_KEY_JWT
            ).first()
            looked_up = request.taskgate_client_keys = (client.client_id, keys)
        return looked_up[1]

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
            "amr": lambda request: (_authentication(request).amr or None) if _authentication(request) else None,
            "auth_time": lambda request: (
                int(_authentication(request).auth_time.timestamp()) if _authentication(request) else None
            ),
        }

    def get_oidc_claims(self, token, token_handler, request):
        """A claim we cannot say (`amr` of a login from before we kept it) is left out, not null."""
        claims = super().get_oidc_claims(token, token_handler, request)
        return {key: value for key, value in claims.items() if value is not None}

    def get_id_token_dictionary(self, token, token_handler, request):
        """OpenID Connect Core §2: `auth_time` is when the person logged in for this code,
        not the account's last login anywhere (DOT's); the ID token's `jti` keeps
        the login for userinfo and refreshes (idp.authentication)."""
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        authentication = _authentication(request)
        if authentication is not None:
            claims["auth_time"] = int(authentication.auth_time.timestamp())
            authentication_link_id_token(jti=claims["jti"], authentication=authentication, user=request.user)
        return claims, expiration_time

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

        A missing redirect_uri (oauthlib then checks the app's default one):
        OAuth 2.1 §10.2 drops it from the token request because PKCE prevents
        code injection, so it is accepted for a code issued with a challenge.
        A code issued without one comes from an OAuth 2.0 client (a GPT
        Action), for which RFC 6749 §4.1.3 makes it REQUIRED.
        """
        request = args[0] if args else kwargs.get("request")
        if getattr(request, "using_default_redirect_uri", False):
            grant = get_grant_model().objects.filter(code=code, application=client).only("code_challenge").first()
            if grant is not None and not grant.code_challenge:
                raise errors.InvalidRequestError(
                    description="redirect_uri is required: send the one of the authorization request.",
                    request=request,
                )
        if super().confirm_redirect_uri(client_id, code, redirect_uri, client, *args, **kwargs):
            return True
        if redirect_uri is None:
            return False  # missing: oauthlib's invalid_request is right (RFC 6749 §4.1.3 "REQUIRED")
        raise errors.InvalidGrantError(
            description="redirect_uri differs from the one of the authorization request.", request=request
        )

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
        """RFC 6749 §4.1.2: a code used twice is refused, and what it issued is revoked.

        The grant's row is locked for the request's transaction first, so that
        of concurrent exchanges of one code one goes on and the others wait,
        then find it redeemed. Unlocked, a request that had found the grant
        could lose it to the winner between DOT's later reads of it
        (confirm_redirect_uri, the PKCE checks) and answer 500 (seen on
        PostgreSQL in tests/security/test_races.py).
        """
        get_grant_model().objects.select_for_update().filter(code=code, application=client).only("pk").first()
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            return True
        redeemed = RedeemedCode.objects.filter(code_checksum=checksum(code), application=client).first()
        if redeemed is not None:
            log.warning("Authorization code replayed by client %s: revoking the tokens it issued.", client.client_id)
            self._revoke_issued_from(redeemed)
            audit_record(kind=AuditEvent.Kind.CODE_REPLAYED, application=client, request=request)
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
        Every code issued is also the person's consent, given on the consent
        page, remembered, or implied for a first-party app: recorded for
        /account's Connected apps. The login that approved it is kept for the
        ID token's `amr` and `auth_time` (idp.authentication).
        """
        refuse_unserved_resources(getattr(request, "resource", None) or [], request=request)
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        consent_record(user=request.user, application=request.client, scopes=request.scopes)
        authentication_link_code(
            code=code["code"], user=request.user, credential=getattr(request, REQUEST_ATTRIBUTE, None)
        )

    def _check_and_set_request_resource(self, request):
        """RFC 8707 §2: the token's audience, requested at the token endpoint or
        carried over from the grant or refresh token, is a resource we serve."""
        super()._check_and_set_request_resource(request)
        refuse_unserved_resources(request.resource, request=request)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        super()._save_bearer_token(token, request, *args, **kwargs)
        if isinstance(request.client, Application):
            application_mark_used(application=request.client)

    def validate_client_id(self, client_id, request, *args, **kwargs):
        """A client_id that is a metadata document's URL, seen for the first time, makes
        DOT fetch the document and register the app (CIMD): recorded in the audit log."""
        first_sight = cimd.is_cimd_client_id(client_id) and not Application.objects.filter(client_id=client_id).exists()
        valid = super().validate_client_id(client_id, request, *args, **kwargs)
        if first_sight and valid:
            audit_record(
                kind=AuditEvent.Kind.APP_REGISTERED,
                application=Application.objects.filter(client_id=client_id).first(),
                request=request,
                source=Application.RegistrationSource.CIMD,
            )
        return valid

    def validate_bearer_token(self, token, scopes, request):
        """A token used at one of our resources (the APIs, userinfo) counts as the app's last use."""
        valid = super().validate_bearer_token(token, scopes, request)
        access_token = getattr(request, "access_token", None) if valid else None
        if access_token is not None and access_token.user_id and access_token.application_id:
            consent_mark_used(user_id=access_token.user_id, application_id=access_token.application_id)
        return valid

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """RFC 6749 §6 and RFC 9700 §4.14.2: one rotation per refresh token, even
        under concurrency, and a reuse after rotation revokes the family.

        The token's row is locked for the request's transaction, so that of
        concurrent requests exactly one rotates it (on PostgreSQL the others
        wait here; SQLite's IMMEDIATE transactions already run one at a
        time). A request that found the token active when it arrived but
        finds it rotated once it holds the lock, or that presents it within
        IDP_REFRESH_RETRY_SECONDS of its rotation, is a concurrent duplicate
        (a client's retry of one refresh), not proof of theft: it gets
        `invalid_grant` and the winner's new pair stays valid. A token
        presented later than that is a reuse: DOT revokes its whole family
        (REFRESH_TOKEN_REUSE_PROTECTION), which is recorded in the audit log
        when it ended live tokens (the presented token was revoked before this
        request, and members of its family during it).
        """
        started = timezone.now()
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
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid and oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
            RefreshToken = get_refresh_token_model()  # noqa: N806
            presented = (
                RefreshToken.objects.filter(token_checksum=checksum(refresh_token), revoked__lt=started)
                .exclude(token_family=None)
                .select_related("user", "application")
                .order_by("-revoked")
                .first()
            )
            if (
                presented is not None
                and RefreshToken.objects.filter(token_family=presented.token_family, revoked__gte=started).exists()
            ):
                audit_record(
                    kind=AuditEvent.Kind.REFRESH_TOKEN_REUSED,
                    user=presented.user,
                    application=presented.application,
                    request=request,
                )
        return valid

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        """RFC 7009: a client revoked one of its tokens. Audited with the
        token's owner, when the token is one of this client's."""
        application_id = getattr(request.client, "pk", None)
        token_checksum = checksum(token)
        owner_id = None
        for model in (get_access_token_model(), get_refresh_token_model()) if application_id else ():
            owner_id = (
                model.objects.filter(token_checksum=token_checksum, application_id=application_id, user__isnull=False)
                .values_list("user_id", flat=True)
                .first()
            )
            if owner_id:
                break
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        if owner_id:
            audit_record(
                kind=AuditEvent.Kind.TOKEN_REVOKED,
                user=get_user_model().objects.filter(pk=owner_id).first(),
                application=request.client,
                request=request,
                count=1,
                reason="The app revoked it (RFC 7009).",
            )
