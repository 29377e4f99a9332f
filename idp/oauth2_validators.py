"""Taskgate's rules for django-oauth-toolkit (OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"])."""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from oauth2_provider import cimd
from oauth2_provider.models import (
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
    set_token_value,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem
from oauthlib.oauth2.rfc6749 import errors

from config.precompiled import Insert, Update
from idp import activity, token_cache
from idp.audit import audit_record
from idp.authentication import (
    REQUEST_ATTRIBUTE,
    authentication_for_access_token_id,
    authentication_for_token_request,
    authentication_link_code,
    authentication_link_id_token,
)
from idp.bearer import bearer_verify
from idp.client_assertions import ASSERTION_TYPE, ClientAssertionError, assertion_issuer, client_assertion_verify
from idp.models import Application, AuditEvent, ClientKeys, RedeemedCode
from idp.resources import refuse_unserved_resources
from idp.services.apps import application_mark_used
from idp.services.consents import consent_mark_used, consent_record
from idp.token_rows import checksum, grant_row, refresh_token_row

log = logging.getLogger(__name__)

# RFC 7636 §4.1: code-verifier = 43*128unreserved
CODE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def _assertion_parameters(request) -> tuple[str | None, str | None]:
    """The RFC 7521 §4.2 parameters of a request: client_assertion_type and client_assertion."""
    return getattr(request, "client_assertion_type", None), getattr(request, "client_assertion", None)


def _authentication(request):
    """How and when the person behind this token request or userinfo call logged in (idp.authentication).

    Looked up once per request: every claim asks.
    """
    found = getattr(request, "taskgate_authentication_found", None)
    if found is None:
        access_token = getattr(request, "access_token", None)
        if isinstance(getattr(access_token, "token_id", None), int):
            authentication = authentication_for_access_token_id(access_token.token_id)  # userinfo (idp.bearer)
        elif isinstance(access_token, get_access_token_model()):
            authentication = authentication_for_access_token_id(access_token.pk)
        else:
            authentication = authentication_for_token_request(request)
        found = request.taskgate_authentication_found = (authentication,)
    return found[0]


# The two UPDATEs of a refresh, written once (config.precompiled.Update): through QuerySet.update,
# building and compiling them was a quarter of a refresh's CPU (benchmarks/README.md).


@functools.cache
def _rotated_revoke() -> Update:
    """The presented refresh token revoked, where it is not yet: the write that decides a race."""
    return Update(
        get_refresh_token_model(), columns=["revoked", "updated", "access_token"], where=["id"], where_null=["revoked"]
    )


# What the new access token copies into the previous one's row, then its checksum and times.
_REUSED_ACCESS_TOKEN_FIELDS = (
    "user",
    "scope",
    "expires",
    "id_token",
    "application",
    "source_refresh_token",
    "resource",
    "token",
)


@functools.cache
def _access_token_reuse() -> Update:
    """The previous access token's row taken by the new one."""
    columns = [*_REUSED_ACCESS_TOKEN_FIELDS, "token_checksum", "created", "updated"]
    return Update(get_access_token_model(), columns=columns, where=["id"])


@functools.cache
def _insert(model) -> Insert:
    """The token endpoint's INSERTs (ID token, refresh token, a code's first access token), written once:
    Model.save compiled each again (config.precompiled.Insert)."""
    return Insert(model)


def _refusal_counted(request) -> None:
    """A failed client authentication, oauthlib's `invalid_client` (401), counted for the app it named if
    that app exists (its activity shows someone trying its credentials), else for no app."""
    client = request.client if isinstance(request.client, Application) else None
    activity.token_refused_counted(application_id=client.pk if client else None, status=401)


class _ClaimsEncoder(json.JSONEncoder):
    """DOT's `json.dumps(claims, default=str)`: a value JSON has no type for is written as its text."""

    def default(self, o):
        return str(o)


@functools.cache
def rs256_signing_key(pem: str) -> tuple[rsa.RSAPrivateKey, str]:
    """The OIDC signing key, parsed once, and its `kid`: the RFC 7638 thumbprint that DOT's JWKS
    (jwcrypto) publishes for it."""
    return serialization.load_pem_private_key(pem.encode(), password=None), jwk_from_pem(pem).thumbprint()


# The key of an Application kept in idp.token_cache, by client_id (token entries are checksums).
APPLICATION_KEY = "app:"


class TaskgateOAuth2Validator(OAuth2Validator):
    # OpenID Connect Core §2 and RFC 8176: how the person logged in, in every
    # ID token and userinfo answer (the `openid` scope is always there).
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "amr": "openid", "auth_time": "openid"}

    # --- Client authentication: secrets (DOT), none (public clients), private_key_jwt (ours)

    def _load_application(self, client_id, request):
        """DOT's load of the client (its checks, its metadata-document fetch), with this process's
        copy of the app in front.

        Introspection and revocation authenticate their client on every call,
        and loading the Application through the ORM was the largest part of an
        introspection (benchmarks/README.md). The copy is kept in
        idp.token_cache, which drops it on any change to the app's row (a
        secret rotated, disabled, deleted: a database notice) and serves it
        only while this process hears those notices, for at most
        IDP_TOKEN_CACHE_SECONDS. DOT then checks it as one it loaded itself
        (the client_id, `is_usable`). `_load_application` is DOT's, not
        documented: tests/idp/test_token_cache.py fails loudly if it stops
        taking the client it is given.
        """
        if request.client is None and isinstance(client_id, str):
            kept = token_cache.cache.get(APPLICATION_KEY + client_id)
            request.client = copy.copy(kept) if kept is not None else None
        if request.client is not None:
            return super()._load_application(client_id, request)
        sequence = token_cache.cache.sequence()
        client = super()._load_application(client_id, request)
        if client is not None:
            token_cache.cache.put(
                APPLICATION_KEY + client_id, copy.copy(client), sequence=sequence, ended_by=[("a", client.pk)]
            )
        return client

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
                authenticated = False
        else:
            authenticated = self._authenticate_client_assertion(request, assertion_type, assertion)
        if not authenticated:
            _refusal_counted(request)
        return authenticated

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        """A public client names itself (RFC 6749 §3.2.1); an unknown or disabled one is refused, and counted."""
        authenticated = super().authenticate_client_id(client_id, request, *args, **kwargs)
        if not authenticated:
            _refusal_counted(request)
        return authenticated

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

    def finalize_id_token(self, id_token, token, token_handler, request):
        """OpenID Connect Core §2: the ID token as DOT makes it (its claims, header and row), signed with
        PyJWT over a key loaded once.

        DOT signs through jwcrypto, which copies its header registry for every
        signature and re-hashes the key's thumbprint for `kid`: about 5% of a
        refresh's CPU (benchmarks/README.md, finding 10). HS256 apps keep DOT's path.
        """
        if request.client.algorithm != Application.RS256_ALGORITHM:
            return super().finalize_id_token(id_token, token, token_handler, request)
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        # DOT's workaround for oauthlib bug #746: the request's nonce, where oauthlib left it out.
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        key, kid = rs256_signing_key(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
        signed = pyjwt.encode(id_token, key, algorithm="RS256", headers={"kid": kid}, json_encoder=_ClaimsEncoder)
        # Saved with the tokens it comes with (_save_id_token); DRF reads it as the request's token.
        request.access_token = request.id_token = self._save_id_token(id_token["jti"], request, expiration_time)
        return signed

    def validate_silent_login(self, request) -> bool:
        """OpenID Connect Core §3.1.2.1, prompt=none: we never authorize without showing our
        pages, so a silent request is answered `login_required` (§3.1.2.6), which clients act on
        by sending the person through the normal flow. DOT implements neither silent check."""
        return False

    def validate_silent_authorization(self, request) -> bool:
        """See validate_silent_login: `consent_required` would follow a silent login."""
        return False

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
        grant = self._grant_of_client(code, request)
        challenge = (grant.code_challenge or None) if grant is not None else None
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

    def get_code_challenge_method(self, code, request):
        grant = self._grant_of_client(code, request)
        return (grant.code_challenge_method or None) if grant is not None else None

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        """The code's scopes, which tell oauthlib whether this is an OpenID Connect exchange."""
        grant = grant_row(request, code)
        return grant.scope.split() if grant is not None else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        """OIDC Core §3.1.3.6: the nonce of the authentication request goes into the ID token."""
        grant = grant_row(request, code)
        return (grant.nonce or None) if grant is not None else None

    @staticmethod
    def _grant_of_client(code, request):
        grant = grant_row(request, code)
        if grant is None or grant.redeemed or request.client is None or grant.application_id != request.client.pk:
            return None
        return grant

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
        grant = self._grant_of_client(code, request)
        if grant is None:
            return False
        if getattr(request, "using_default_redirect_uri", False) and not grant.code_challenge:
            raise errors.InvalidRequestError(
                description="redirect_uri is required: send the one of the authorization request.",
                request=request,
            )
        if grant.redirect_uri_allowed(redirect_uri):
            return True
        if redirect_uri is None:
            return False  # missing: oauthlib's invalid_request is right (RFC 6749 §4.1.3 "REQUIRED")
        raise errors.InvalidGrantError(
            description="redirect_uri differs from the one of the authorization request.", request=request
        )

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        """RFC 6749 §4.1.2: nothing left to do. oauthlib calls this once the tokens are stored, and
        _save_bearer_token recorded the code as redeemed in the transaction that stored them; a
        redeemed code's grant is refused until it expires and `clear_expired` removes it."""

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """RFC 6749 §4.1.3: the code was issued to this client and has not expired; RFC 6749 §4.1.2:
        a code used twice is refused, and what it issued is revoked.

        The grant is read once (idp.token_rows); of concurrent exchanges of
        one code, the one that records it redeemed when storing its tokens
        wins (_save_bearer_token), and the others get `invalid_grant`.
        """
        grant = grant_row(request, code)
        if grant is None or grant.redeemed:
            self._revoke_what_a_replayed_code_issued(code, client, request)
            return False
        if grant.application_id != client.pk or grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    def _revoke_what_a_replayed_code_issued(self, code, client, request) -> None:
        redeemed = RedeemedCode.objects.filter(code_checksum=checksum(code), application=client).first()
        if redeemed is None:
            return
        log.warning("Authorization code replayed by client %s: revoking the tokens it issued.", client.client_id)
        refresh = get_refresh_token_model().objects.filter(token_checksum=redeemed.refresh_token_checksum).first()
        if redeemed.refresh_token_checksum and refresh is not None:
            # The family also holds every token rotated from it since.
            get_refresh_token_model().revoke_family(refresh.token_family)
        get_access_token_model().objects.filter(token_checksum=redeemed.access_token_checksum).delete()
        audit_record(kind=AuditEvent.Kind.CODE_REPLAYED, application=client, request=request)

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
        carried over from the grant or refresh token, is a resource we serve.

        For a code, DOT reads the grant again; it is read once here
        (idp.token_rows) and its `resource` given to DOT's own rules as a
        refresh token's is.
        """
        if request.grant_type == "authorization_code":
            grant = self._grant_of_client(request.code, request)
            resource = self._requested_resource(request)
            granted = (grant.resource or []) if grant is not None else []
            if resource and granted:
                for uri in resource:
                    if uri not in granted:
                        raise errors.CustomOAuth2Error(
                            error="invalid_target",
                            description=f"The requested resource '{uri}' was not part of the authorization.",
                            request=request,
                        )
            elif granted:
                self._validate_resource_uris(request, granted)
                resource = granted
            request.resource = resource
        else:
            super()._check_and_set_request_resource(request)
        refuse_unserved_resources(request.resource, request=request)

    def _requested_resource(self, request) -> list[str]:
        """The `resource` parameters of a token request, every one of them (RFC 8707 §2 allows several)."""
        resource = [value for key, value in (request.decoded_body or []) if key == "resource"]
        if not resource and isinstance(getattr(request, "resource", None), str) and request.resource.strip():
            resource = [request.resource]  # in the query string
        self._validate_resource_uris(request, resource)
        return resource

    def _save_bearer_token(self, token, request, *args, **kwargs):
        """RFC 6749 §5.1 and §6: store what is issued, spending the code or rotating the refresh token.

        DOT's save_bearer_token runs this in a transaction; the view opens
        none around the request. The first write decides which of concurrent
        requests with one code or one refresh token wins: recording the code
        redeemed (unique per code), or marking the refresh token revoked
        where it is not yet. A request that cannot lost to one that arrived
        with it, a client's retry (RFC 9700 §4.14.2 leaves room for it):
        `invalid_grant`, nothing written, and the winner's tokens stay valid.
        The losing request waits for the winner's transaction (no SKIP
        LOCKED): should that one roll back, the other goes on.

        A refresh reuses the previous access token's row for the new access
        token, so that its old value stops working in the same statement:
        rotating is three writes (the old refresh token revoked, the access
        token, the new refresh token) where deleting the old access token
        through Django's collector is two more.
        """
        if "scope" not in token:
            raise errors.FatalClientError("Failed to renew access token: missing scope")
        self._check_and_set_request_resource(request)
        if request.grant_type == "authorization_code":
            self._redeem_code(token, request)
            previous = None
        else:
            previous = self._revoke_rotated(request)
        now = timezone.now()
        access = self._store_access_token(token, request, now=now, previous=previous)
        refresh = get_refresh_token_model()(
            user=request.user,
            application=request.client,
            access_token=access,
            token_family=previous.token_family if previous is not None and previous.token_family else uuid.uuid4(),
            resource=request.resource,
        )
        set_token_value(refresh, token["refresh_token"])
        _insert(type(refresh)).save(refresh)
        if request.grant_type == "refresh_token":
            # A code's exchange follows its consent by at most AUTHORIZATION_CODE_EXPIRE_SECONDS,
            # when consent_record noted it.
            consent_mark_used(user_id=request.user.pk, application_id=request.client.pk)
        audit_record(
            kind=AuditEvent.Kind.TOKEN_ISSUED,
            user=request.user,
            application=request.client,
            request=request,
            grant_type=request.grant_type,
            scope=token["scope"],
            resource=list(request.resource),
        )
        application_mark_used(application=request.client)
        activity.token_issued_counted(
            application_id=request.client.pk, user_id=request.user.pk, grant_type=request.grant_type
        )

    def _redeem_code(self, token, request) -> None:
        """RFC 6749 §4.1.2: the code is recorded as redeemed, with what it issues, before any
        token is stored. The record is unique per code: a request that cannot write it lost the
        code to a concurrent exchange (which it waited for, should that one roll back)."""
        try:
            RedeemedCode.objects.create(
                code_checksum=checksum(request.code),
                application=request.client,
                access_token_checksum=checksum(token["access_token"]),
                refresh_token_checksum=checksum(token["refresh_token"]),
            )
        except IntegrityError:
            log.info("Concurrent exchange of one code by client %s: refused.", request.client.client_id)
            raise errors.InvalidGrantError(request=request) from None

    def _revoke_rotated(self, request):
        """RFC 6749 §6: the presented refresh token ends as its successor is issued."""
        previous = request.refresh_token_instance
        now = timezone.now()
        revoked = _rotated_revoke().run([now, now, None], [previous.pk])
        if not revoked:
            log.info("Concurrent refresh of one refresh token by client %s: refused, family kept.",
                     request.client.client_id)  # fmt: skip
            raise errors.InvalidGrantError(request=request)
        return previous

    def _store_access_token(self, token, request, *, now, previous):
        AccessToken = get_access_token_model()  # noqa: N806
        id_token = request.id_token if "id_token" in token else None
        if id_token is not None:
            _insert(type(id_token)).save(id_token)
        access = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=now + timedelta(seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)),
            id_token=id_token,
            application=request.client,
            source_refresh_token=previous,
            resource=request.resource,
        )
        set_token_value(access, token["access_token"])
        if previous is not None and previous.access_token_id is not None:
            fields = [AccessToken._meta.get_field(name) for name in _REUSED_ACCESS_TOKEN_FIELDS]
            values = [field.value_from_object(access) for field in fields]
            reused = _access_token_reuse().run(
                [*values, checksum(token["access_token"]), now, now], [previous.access_token_id]
            )
            if reused:
                access.pk = previous.access_token_id
                return access
        _insert(AccessToken).save(access)
        return access

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        """OIDC Core §3.1.3.3: the ID token's row, saved with the tokens it comes with.

        DOT saves it in a transaction of its own as it signs it, and leaves
        it on oauthlib's request (`request.id_token`); _save_bearer_token
        saves it in the tokens' transaction, so that a refused request
        leaves none behind and one commit makes the whole issue durable.
        """
        return get_id_token_model()(
            user=request.user,
            scope=request.scope or " ".join(request.scopes),
            expires=expires,
            jti=jti,
            application=request.client,
        )

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
        """RFC 6750 at the provider's own resources (userinfo): idp.bearer's rule, for the URL
        the token is used at, as the API and /mcp apply it. A token used counts as the app's last use."""
        if not token:
            return False
        resource = settings.SITE_URL + urlsplit(getattr(request, "uri", None) or "").path
        verdict = bearer_verify(raw_token=token, resource=resource)
        grant = verdict.grant
        if grant is None or not grant.allow_scopes(scopes or []):
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": verdict.problem or "The access token lacks a scope this needs.",
            }
            return False
        request.user = grant.user
        request.scopes = sorted(grant.scopes)
        request.access_token = grant
        consent_mark_used(user_id=grant.user.pk, application_id=grant.application_id)
        return True

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """RFC 6749 §6 and RFC 9700 §4.14.2: a refresh token is used once, and a reuse after its
        rotation revokes its family.

        A rotated token presented again within IDP_REFRESH_RETRY_SECONDS of
        its rotation is a client's retry of one refresh, not proof of theft:
        `invalid_grant`, and the family is kept. Later, it is a reuse: the whole
        family is revoked (REFRESH_TOKEN_REUSE_PROTECTION), and recorded in the
        audit log when that ended live tokens. A request that found the token
        active but lost it to a concurrent one is refused when it stores its
        tokens (_save_bearer_token). The row is read once (idp.token_rows).
        """
        row = refresh_token_row(request, refresh_token)
        if row is None:
            return False
        if row.revoked is not None:
            self._refuse_presented_again(row, client, request)
            return False
        if row.access_token is None:
            return False  # its access token was revoked on its own: nothing is left to refresh
        lifetime = refresh_token_expire_timedelta()
        if lifetime and row.access_token.expires + lifetime <= timezone.now():
            return False  # REFRESH_TOKEN_EXPIRE_SECONDS after its last access token expired
        if row.application_id != client.pk:
            return False
        request.user = row.user
        request.refresh_token = refresh_token
        # DOT's name for it, read by get_original_scopes and the resource rules.
        request.refresh_token_instance = row
        return True

    def _refuse_presented_again(self, row, client, request) -> None:
        window = timedelta(seconds=settings.IDP_REFRESH_RETRY_SECONDS)
        # Rotated (it has a successor), not revoked on purpose (RFC 7009, the admin, a family revoked).
        rotated = get_access_token_model().objects.filter(source_refresh_token=row).exists()
        if rotated and timezone.now() - row.revoked < window:
            log.info("Refresh token presented again by client %s at once: refused, family kept.", client.client_id)
            return
        if not oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION or not row.token_family:
            return
        RefreshToken = get_refresh_token_model()  # noqa: N806
        live = RefreshToken.objects.filter(token_family=row.token_family, revoked__isnull=True).exists()
        RefreshToken.revoke_family(row.token_family)
        if live:
            audit_record(
                kind=AuditEvent.Kind.REFRESH_TOKEN_REUSED, user=row.user, application=row.application, request=request
            )

    def offer_read_client(self, request) -> None:
        """oauthlib pre_token hook (idp.oauth2_server): the code's or refresh token's application,
        read with its row, becomes the request's client before the client authenticates.

        DOT's client authentication keeps `request.client` only when it is
        the client_id the request authenticates as, and usable (enabled);
        otherwise it reads the application named. A metadata-document client
        is fetched again when its cached document is stale, as on DOT's own read.
        """
        if request.client is not None:
            return
        if request.grant_type == "authorization_code":
            row = grant_row(request, request.code)
        elif request.grant_type == "refresh_token":
            row = refresh_token_row(request, request.refresh_token)
        else:
            return
        if row is not None and row.application is not None:
            request.client = cimd.refresh_if_stale(row.application, request)

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
