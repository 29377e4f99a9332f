"""RFC 7591 Dynamic Client Registration and RFC 7592 management of a registration."""

from __future__ import annotations

import json
import time
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from oauth2_provider import views as dot

from idp.audit import AuditEvent, audit_record
from idp.client_metadata import ClientMetadata, ClientMetadataError, client_metadata_accept
from idp.models import Application, ClientKeys
from idp.ratelimit import RateLimit, client_address, too_many_requests
from idp.services.client_keys import client_keys_record
from idp.validators import validate_redirect_uri

REGISTRATION_RATE_LIMIT = RateLimit.parse("registration", settings.IDP_REGISTRATION_RATE_LIMIT)


def _registration_error(error: str, description: str) -> JsonResponse:
    return JsonResponse(
        {"error": error, "error_description": description},
        status=HTTPStatus.BAD_REQUEST,
        headers={"Cache-Control": "no-store"},
    )


def _accept_registration(request: HttpRequest) -> JsonResponse | ClientMetadata | None:
    """RFC 7591 §2 and §3.2.2: the registration request as we accept it.

    Returns the error response for metadata we cannot serve
    (`invalid_redirect_uri` for a redirect URI idp.validators refuses,
    `invalid_client_metadata` otherwise), or the accepted metadata, narrowed
    to what we serve (idp.client_metadata); DOT's view, which registers the
    app, is then handed the narrowed request. None when the body is not a
    JSON object: DOT's view answers that.
    """
    try:
        metadata = json.loads(request.body)
    except ValueError:
        return None
    if not isinstance(metadata, dict):
        return None
    redirect_uris = metadata.get("redirect_uris")
    if isinstance(redirect_uris, list):
        for uri in redirect_uris:
            if not isinstance(uri, str):
                return _registration_error("invalid_redirect_uri", "Each redirect URI must be a string.")
            try:
                validate_redirect_uri(uri)
            except ValidationError as error:
                return _registration_error("invalid_redirect_uri", " ".join(error.messages))
    try:
        accepted = client_metadata_accept(metadata, metadata_document=False)
    except ClientMetadataError as error:
        return _registration_error(error.error, error.description)
    # DOT's view knows secrets and `none`; a client with keys is, to DOT, a
    # client without a secret, and its keys are recorded beside it.
    narrowed = {
        **metadata,
        "grant_types": accepted.grant_types,
        "response_types": accepted.response_types,
        "token_endpoint_auth_method": "none" if accepted.uses_keys else accepted.token_endpoint_auth_method,
    }
    # The only way to hand DOT's view other metadata than the client sent:
    # HttpRequest.body reads `_body` once it is set (it is how Django caches it).
    request._body = json.dumps(narrowed).encode()
    return accepted


def _registered(data: dict, accepted: ClientMetadata) -> dict:
    """RFC 7591 §3.2.1: the response says what was registered, which may differ from the request."""
    client_keys_record(client_id=data["client_id"], metadata=accepted)
    data["grant_types"] = accepted.grant_types
    data["response_types"] = accepted.response_types
    data.update(
        _authentication_members(
            accepted.token_endpoint_auth_method, accepted.jwks_uri, accepted.jwks, accepted.signing_alg
        )
    )
    return data


def _authentication_members(method: str, jwks_uri: str, jwks: dict | None, signing_alg: str) -> dict:
    """RFC 7591 §2: how the client authenticates, as a registration response states it."""
    members = {"token_endpoint_auth_method": method}
    if jwks_uri:
        members["jwks_uri"] = jwks_uri
    if jwks is not None:
        members["jwks"] = jwks
    if signing_alg:
        members["token_endpoint_auth_signing_alg"] = signing_alg
    return members


class ClientRegistrationView(dot.DynamicClientRegistrationView):
    """RFC 7591 §3: Dynamic Client Registration at /idp/register, for anyone.

    MCP clients register anonymously (DCR_REGISTRATION_PERMISSION_CLASSES
    allows all), so registrations are rate limited per client address. A
    registered app always requires PKCE, is never first party (people are
    always asked to consent) and is marked as registered dynamically: DOT sets
    only the name, redirect URIs, grant type and client type, and leaves the
    rest to the model's defaults. What the client asks for is narrowed to
    what we serve (RFC 7591 §2) rather than refused.

    What DOT registered is read back from its JSON answer: DOT builds it in a
    module function (`_application_to_response`) and sends no signal, so its
    response is the one place that says which client_id it made.
    """

    def post(self, request, *args, **kwargs):
        retry_after = REGISTRATION_RATE_LIMIT.hit(client_address(request))
        if retry_after is not None:
            return too_many_requests(
                retry_after, f"Too many registrations from your address; retry in {retry_after} s."
            )
        accepted = _accept_registration(request)
        response = accepted if isinstance(accepted, JsonResponse) else super().post(request, *args, **kwargs)
        if response.status_code == HTTPStatus.CREATED:
            data = json.loads(response.content)
            if isinstance(accepted, ClientMetadata):
                data = _registered(data, accepted)
            # RFC 7591 §3.2.1: client_secret_expires_at is required with a secret; 0 is "never".
            data["client_id_issued_at"] = int(time.time())
            if "client_secret" in data:
                data["client_secret_expires_at"] = 0
            response = JsonResponse(data, status=HTTPStatus.CREATED)
            audit_record(
                kind=AuditEvent.Kind.APP_REGISTERED,
                application=Application.objects.filter(client_id=data.get("client_id")).first(),
                request=request,
                source=Application.RegistrationSource.DCR,
            )
        response["Cache-Control"] = "no-store"
        return response


class ClientConfigurationView(dot.DynamicClientRegistrationManagementView):
    """RFC 7592 §2: read, update or delete a registration with its registration access token."""

    def put(self, request, *args, **kwargs):
        accepted = _accept_registration(request)
        response = accepted if isinstance(accepted, JsonResponse) else super().put(request, *args, **kwargs)
        if response.status_code == HTTPStatus.OK:
            if isinstance(accepted, ClientMetadata):
                data = _registered(json.loads(response.content), accepted)
                response = JsonResponse(data, status=HTTPStatus.OK)
            audit_record(
                kind=AuditEvent.Kind.APP_CHANGED,
                application=Application.objects.filter(client_id=kwargs.get("client_id")).first(),
                request=request,
                changed=["client metadata (RFC 7592)"],
            )
        return response

    def get(self, request, *args, **kwargs):
        """RFC 7592 §2.1: the registration as it is, keys included (DOT knows only secrets and none)."""
        response = super().get(request, *args, **kwargs)
        if response.status_code != HTTPStatus.OK:
            return response
        keys = ClientKeys.objects.filter(client_id=kwargs.get("client_id")).first()
        if keys is None:
            return response
        data = json.loads(response.content)
        data.update(
            _authentication_members(keys.token_endpoint_auth_method, keys.jwks_uri, keys.jwks, keys.signing_alg)
        )
        return JsonResponse(data, status=HTTPStatus.OK)

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response
