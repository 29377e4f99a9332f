"""The provider's endpoints: DOT's views, subclassed only where a rule needs it."""

from __future__ import annotations

import base64
import binascii
import json
import time
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test.signals import setting_changed
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import View
from oauth2_provider import views as dot
from oauth2_provider.compat import login_not_required
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.scopes import get_scopes_backend
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from idp.bearer import bearer_verify
from idp.models import Application, AuditEvent
from idp.oauth2_server import GRANT_TYPES, RESPONSE_TYPES
from idp.oauth2_validators import REFRESH_SEEN_ACTIVE, refresh_token_is_active
from idp.ratelimit import RateLimit, client_address, too_many_requests
from idp.resources import refuse_unserved_resources
from idp.services import audit_record
from idp.validators import validate_redirect_uri


def _with_iss(url: str) -> str:
    """RFC 9207 §2: every authorization response carries `iss`, errors too.

    DOT adds it to successful responses but not to the redirect after Deny.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "iss" for key, _ in query):
        return url
    query.append(("iss", settings.SITE_URL))
    return urlunsplit(parts._replace(query=urlencode(query)))


class ConsentView(dot.AuthorizationView):
    """The authorization endpoint, `/idp` (RFC 6749 §3.1, §4.1.1): the consent page.

    A visitor who is not logged in is sent to the login page and back; an
    invalid client or redirect URI is shown here and never redirected to
    (RFC 6749 §4.1.2.1).
    """

    template_name = "oauth2_provider/authorize.html"

    def validate_authorization_request(self, request):
        """RFC 8707 §2: a `resource` we do not serve is refused with
        `invalid_target`, sent to the (validated) redirect URI before anyone
        is asked to log in or consent."""
        scopes, credentials = super().validate_authorization_request(request)
        try:
            refuse_unserved_resources(request.GET.getlist("resource"), state=credentials.get("state"))
        except OAuth2Error as error:
            raise OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"]) from None
        return scopes, credentials

    def handle_no_permission(self):
        # Validate the request before sending anyone to log in, so that a bad
        # client_id or redirect_uri is reported at once, on our own page.
        if self.request.method == "GET":
            try:
                self.validate_authorization_request(self.request)
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
        return super().handle_no_permission()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if isinstance(application, Application):
            all_scopes = get_scopes_backend().get_all_scopes()
            context["scope_items"] = [(scope, all_scopes.get(scope, scope)) for scope in context.get("scopes", [])]
            context["redirect_host"] = urlsplit(context.get("redirect_uri") or "").netloc
            context["resource_items"] = [
                settings.IDP_RESOURCES.get(resource, resource) for resource in (context.get("resource") or "").split()
            ]
            if application.registration_source == Application.RegistrationSource.CIMD:
                context["client_id_host"] = urlsplit(application.client_id).hostname
        return context

    def form_valid(self, form):
        """The person's answer on the consent page, recorded once it has been
        sent back to the app (a refused request records nothing)."""
        # DOT looks the posted client_id up with .get(): a consent form posted
        # with an unknown one was a 500. RFC 6749 §4.1.2.1: an error page, no redirect.
        if not Application.objects.filter(client_id=form.cleaned_data["client_id"]).exists():
            return self.error_response(OAuthToolkitError(error=oauth2_errors.InvalidClientIdError()), application=None)
        response = super().form_valid(form)
        if response.status_code in (HTTPStatus.FOUND, HTTPStatus.SEE_OTHER):
            allowed = bool(form.cleaned_data.get("allow"))
            audit_record(
                kind=AuditEvent.Kind.CONSENT_GIVEN if allowed else AuditEvent.Kind.CONSENT_DENIED,
                user=self.request.user,
                application=Application.objects.filter(client_id=form.cleaned_data.get("client_id")).first(),
                request=self.request,
                scope=form.cleaned_data.get("scope") or "",
            )
        return response

    def redirect(self, redirect_to, application):
        response = super().redirect(_with_iss(redirect_to), application)
        if self.request.method == "POST":
            # RFC 9700 §4.12: 303 so the browser does not re-send the form
            # (with the user's credentials) to the client.
            response.status_code = HTTPStatus.SEE_OTHER
        return response

    def render_to_response(self, context, **response_kwargs):
        # DOT renders errors straight from error_response(), without get_context_data.
        if isinstance(context.get("error"), OAuth2Error):
            context["error_kind"] = _error_kind(context["error"])
        response = super().render_to_response(context, **response_kwargs)
        add_never_cache_headers(response)
        return response


def _error_kind(error: OAuth2Error) -> str:
    """Which plain-language explanation the error page gives."""
    if isinstance(error, oauth2_errors.InvalidClientIdError | oauth2_errors.MissingClientIdError):
        return "client"
    if isinstance(
        error,
        oauth2_errors.MismatchingRedirectURIError
        | oauth2_errors.InvalidRedirectURIError
        | oauth2_errors.MissingRedirectURIError,
    ):
        return "redirect_uri"
    return "request"


class TokenView(dot.TokenView):
    """The token endpoint (RFC 6749 §3.2).

    DOT sends device-code requests past oauthlib to a view of its own; we
    serve no devices, so they go through oauthlib like any other grant and
    get its JSON `unsupported_grant_type` (RFC 6749 §5.2). An error raised
    while DOT stores the token, such as RFC 8707's `invalid_target`, comes
    back from DOT without a content type; §5.2 says errors are JSON.

    Failed client authentications (`invalid_client`) are limited per
    client_id and per address (IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT): once over,
    every request of that client or address is answered 429 with Retry-After
    (RFC 6585 §4) until the window ends, so a client secret cannot be guessed
    at speed (RFC 6819 §5.1.4.2.3).

    The request's transaction is opened here rather than by ATOMIC_REQUESTS,
    so that a refresh token's state can be read as the request arrives,
    before it waits for a concurrent one (see
    TaskgateOAuth2Validator.validate_refresh_token).
    """

    # csrf_exempt again: DOT's is on the dispatch this overrides.
    @method_decorator(csrf_exempt)
    @method_decorator(transaction.non_atomic_requests)
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if any("\x00" in value for _, values in request.POST.lists() for value in values):
            # No OAuth parameter holds a NUL; PostgreSQL refuses it in a query,
            # which oauthlib's OIDC dispatcher makes before any validator runs.
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Parameters must not contain NUL characters."},
                status=HTTPStatus.BAD_REQUEST,
                headers={"Cache-Control": "no-store"},
            )
        limit = RateLimit.parse("token-auth-failure", settings.IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT)
        keys = _limit_keys(request)
        waits = [wait for key in keys if (wait := limit.exceeded(key)) is not None]
        if waits:
            wait = max(waits)
            return too_many_requests(wait, f"Too many failed client authentications; retry in {wait} s.")
        if request.POST.get("grant_type") == "refresh_token" and request.POST.get("refresh_token"):
            active = refresh_token_is_active(request.POST["refresh_token"])
            request.META[REFRESH_SEEN_ACTIVE] = "1" if active else "0"
        with transaction.atomic():
            response = self.authorization_flow_token_response(request)
        if response.status_code >= HTTPStatus.BAD_REQUEST and response["Content-Type"].startswith("text/html"):
            response["Content-Type"] = "application/json"
        if response.status_code == HTTPStatus.UNAUTHORIZED or _oauth_error(response) == "invalid_client":
            for key in keys:
                limit.hit(key)
        return response


def _limit_keys(request: HttpRequest) -> list[str]:
    """What a limit counts by: the address, and the client_id the request names (if any)."""
    keys = [f"address:{client_address(request)}"]
    client_id = _request_client_id(request)
    if client_id:
        keys.append(f"client:{client_id}")
    return keys


def _oauth_error(response) -> str | None:
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            return json.loads(response.content).get("error")
        except (ValueError, AttributeError):
            return None
    return None


def _metadata(view_class: type[View], request: HttpRequest) -> dict:
    return json.loads(view_class.as_view()(request).content)


# The document depends on settings only (the issuer is SITE_URL, not the
# request's host), so each process builds it once: building it runs two of
# DOT's views and cost more than serving it (benchmarks/README.md).
_provider_metadata: dict[str, bytes] = {}


@receiver(setting_changed, dispatch_uid="idp.views.forget_provider_metadata")
def _forget_provider_metadata(**kwargs) -> None:
    _provider_metadata.clear()


def _build_provider_metadata(request: HttpRequest) -> bytes:
    data = _metadata(dot.OAuthServerMetadataView, request)
    data.update(_metadata(dot.ConnectDiscoveryInfoView, request))
    # HS256 signing with client secrets is not offered (idp.Application.algorithm).
    data["id_token_signing_alg_values_supported"] = ["RS256"]
    # DOT builds this list from a set; sorted, the document is the same on every request.
    data["claims_supported"] = sorted(data["claims_supported"])
    # Introspection is for confidential clients and resource servers only.
    data["introspection_endpoint_auth_methods_supported"] = ["client_secret_basic", "client_secret_post"]
    data["request_parameter_supported"] = False
    data["claims_parameter_supported"] = False
    return json.dumps(data).encode()


@method_decorator(login_not_required, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ProviderMetadataView(View):
    """OpenID Connect Discovery 1.0 §4 and RFC 8414 §3 in one document.

    Served at `/.well-known/openid-configuration` and
    `/.well-known/oauth-authorization-server` so that both agree: same
    issuer, same endpoints. Built from DOT's two documents, once per process.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        body = _provider_metadata.get("document")
        if body is None:
            body = _provider_metadata["document"] = _build_provider_metadata(request)
        response = HttpResponse(body, content_type="application/json")
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=3600"
        return response


class UserInfoView(dot.UserInfoView):
    """OpenID Connect Core §5.3. The access token is read from the
    Authorization header or the form body (RFC 6750 §2.1, §2.2), never the
    query string (RFC 9700 §4.3.2), which DOT's view still accepts."""

    def dispatch(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            return JsonResponse(
                {
                    "error": "invalid_request",
                    "error_description": "Send the access token in the Authorization header, not the URL.",
                },
                status=HTTPStatus.BAD_REQUEST,
                headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
            )
        return super().dispatch(request, *args, **kwargs)


def _request_client_id(request: HttpRequest) -> str | None:
    """The client_id a request authenticated with: HTTP Basic or the form body."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(decoded.partition(":")[0])
    return request.POST.get("client_id")


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
# A read: no transaction, whose BEGIN and COMMIT would cost two statements of four.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class IntrospectView(dot.IntrospectTokenView):
    """RFC 7662 token introspection, for POST only (§2.1).

    A client may introspect its own tokens; a resource server with a token
    of the `introspection` scope may introspect any. Unauthenticated callers
    get a JSON `invalid_client` (RFC 6749 §5.2), where DOT answers an HTML 403.
    Requests are limited per caller and per address
    (IDP_INTROSPECTION_RATE_LIMIT): 429 with Retry-After over it.
    """

    http_method_names = ["post", "options"]

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            limit = RateLimit.parse("introspection", settings.IDP_INTROSPECTION_RATE_LIMIT)
            waits = [wait for key in _limit_keys(request) if (wait := limit.hit(key)) is not None]
            if waits:
                wait = max(waits)
                return too_many_requests(wait, f"Too many introspection requests; retry in {wait} s.")
        if request.method == "POST" and not request.headers.get("Authorization") and not request.POST.get("client_id"):
            return _invalid_client()
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == HTTPStatus.FORBIDDEN:
            return _invalid_client()
        return response

    def post(self, request, *args, **kwargs):
        raw_token = request.POST.get("token")
        if raw_token is None:
            response = self.get_token_response(None)
        else:
            response = JsonResponse(_introspection(raw_token, caller=_request_client_id(request)))
        response["Cache-Control"] = "no-store"
        return response


def _introspection(raw_token: str, *, caller: str | None) -> dict:
    """RFC 7662 §2.2 by idp.bearer's rule: a token the API would refuse (revoked, expired,
    its person made inactive, its app disabled) is not active, whatever its audience.
    Another client's token gets no more than "not active" (RFC 7662 §4)."""
    grant = bearer_verify(raw_token=raw_token, resource=None).grant
    if grant is None or (caller and grant.client_id != caller):
        return {"active": False}
    data = {
        "active": True,
        "scope": grant.scope,
        "exp": int(grant.expires.timestamp()),
        "client_id": grant.client_id,
        "username": grant.user.get_username(),
    }
    if grant.audience:
        data["aud"] = list(grant.audience)
    return data


def _invalid_client() -> JsonResponse:
    return JsonResponse(
        {"error": "invalid_client", "error_description": "Client authentication failed."},
        status=HTTPStatus.UNAUTHORIZED,
        headers={"WWW-Authenticate": 'Basic realm="taskgate"', "Cache-Control": "no-store"},
    )


REGISTRATION_RATE_LIMIT = RateLimit.parse("registration", settings.IDP_REGISTRATION_RATE_LIMIT)


def _is_string_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _registration_error(error: str, description: str) -> JsonResponse:
    return JsonResponse(
        {"error": error, "error_description": description},
        status=HTTPStatus.BAD_REQUEST,
        headers={"Cache-Control": "no-store"},
    )


def _refused_metadata(body: bytes) -> JsonResponse | None:
    """RFC 7591 §3.2.2: `invalid_redirect_uri` for a redirect URI we do not
    accept (idp.validators), `invalid_client_metadata` for a grant or response
    type we do not support. Other problems are left to DOT's view."""
    try:
        metadata = json.loads(body)
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
    grant_types = metadata.get("grant_types", ["authorization_code"])
    if not _is_string_list(grant_types) or "authorization_code" not in grant_types or set(grant_types) - GRANT_TYPES:
        return _registration_error(
            "invalid_client_metadata", "grant_types must be authorization_code, optionally with refresh_token."
        )
    response_types = metadata.get("response_types", ["code"])
    if not _is_string_list(response_types) or not response_types or set(response_types) - RESPONSE_TYPES:
        return _registration_error("invalid_client_metadata", 'response_types must be ["code"].')
    return None


class ClientRegistrationView(dot.DynamicClientRegistrationView):
    """RFC 7591 §3: Dynamic Client Registration at /idp/register, for anyone.

    MCP clients register anonymously (DCR_REGISTRATION_PERMISSION_CLASSES
    allows all), so registrations are rate limited per client address. A
    registered app always requires PKCE, is never first party (people are
    always asked to consent) and is marked as registered dynamically: DOT sets
    only the name, redirect URIs, grant type and client type, and leaves the
    rest to the model's defaults.
    """

    def post(self, request, *args, **kwargs):
        retry_after = REGISTRATION_RATE_LIMIT.hit(client_address(request))
        if retry_after is not None:
            return too_many_requests(
                retry_after, f"Too many registrations from your address; retry in {retry_after} s."
            )
        response = _refused_metadata(request.body) or super().post(request, *args, **kwargs)
        if response.status_code == HTTPStatus.CREATED:
            data = json.loads(response.content)
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
        response = _refused_metadata(request.body) or super().put(request, *args, **kwargs)
        if response.status_code == HTTPStatus.OK:
            audit_record(
                kind=AuditEvent.Kind.APP_CHANGED,
                application=Application.objects.filter(client_id=kwargs.get("client_id")).first(),
                request=request,
                changed=["client metadata (RFC 7592)"],
            )
        return response

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ProtectedResourceMetadataView(dot.OAuthProtectedResourceMetadataView):
    """RFC 9728 §3: metadata of the MCP endpoint, at
    `/.well-known/oauth-protected-resource/mcp` and at the root form.

    Its values are in OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_*"]; the
    scopes are the task scopes only, those the MCP tools need.
    """

    def get_scopes_supported(self):
        return list(settings.TASK_SCOPES)

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Cache-Control"] = "public, max-age=3600"
        return response
