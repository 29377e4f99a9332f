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
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.test.signals import setting_changed
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import View
from oauth2_provider import views as dot
from oauth2_provider.compat import login_not_required
from oauth2_provider.exceptions import InvalidOIDCClientError, OAuthToolkitError
from oauth2_provider.models import get_access_token_model
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from idp.authentication import REQUEST_ATTRIBUTE, SESSION_KEY, from_session
from idp.bearer import bearer_verify
from idp.cimd import cimd_refusal
from idp.client_assertions import assertion_issuer, signing_algorithms
from idp.client_metadata import ClientMetadata, ClientMetadataError, client_metadata_accept
from idp.models import Application, AuditEvent, ClientKeys
from idp.ratelimit import RateLimit, client_address, too_many_requests
from idp.resources import refuse_unserved_resources
from idp.services import audit_record, client_keys_record
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

    def create_authorization_response(self, request, scopes, credentials, allow):
        """The login behind this approval travels to the code as an oauthlib
        credential (set on its request object), for `amr` and `auth_time`."""
        credentials = {
            **credentials,
            REQUEST_ATTRIBUTE: from_session(request.session.get(SESSION_KEY)),
        }
        return super().create_authorization_response(request, scopes, credentials, allow)

    def get(self, request, *args, **kwargs):
        """OpenID Connect Core §3.1.2.1: `prompt=login`, or a `max_age` older than the
        person's login, asks them to log in again (a second factor too, when they
        have one) before the consent page.

        DOT's own handling of prompt=login sends a logged-in person to the login
        page, which sends them straight back; ours asks for a fresh login
        (`fresh=1`), and the request it returns to no longer asks, so that the
        fresh login satisfies it once.
        """
        if request.user.is_authenticated and self._needs_fresh_login(request):
            try:
                self.validate_authorization_request(request)
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
            query = [
                (key, value)
                for key, value in parse_qsl(urlsplit(request.get_full_path()).query, keep_blank_values=True)
                if key not in ("prompt", "max_age")
            ]
            prompt = [value for value in request.GET.get("prompt", "").split() if value != "login"]
            if prompt:
                query.append(("prompt", " ".join(prompt)))
            next_url = f"{request.path}?{urlencode(query)}"
            return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': next_url, 'fresh': '1'})}")
        return super().get(request, *args, **kwargs)

    @staticmethod
    def _needs_fresh_login(request) -> bool:
        if "login" in request.GET.get("prompt", "").split():
            return True
        raw = request.GET.get("max_age")
        if raw is None:
            return False
        try:
            max_age = int(raw)
        except ValueError:
            return False  # oauthlib's validation reports a malformed max_age
        authentication = from_session(request.session.get(SESSION_KEY))
        return authentication is None or int(time.time()) - authentication["auth_time"] > max(max_age, 0)

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
        # DOT looks the posted client_id up with .get(), which raises for an
        # unknown one. RFC 6749 §4.1.2.1: an error page, no redirect.
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
            if context["error_kind"] == "client":
                # A metadata document we refused: say why, in the sentence the log has.
                client_id = self.request.GET.get("client_id") or self.request.POST.get("client_id")
                context["client_refusal"] = (cimd_refusal(client_id) or "").rstrip(".")
                context["client_id_host"] = urlsplit(client_id or "").hostname
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

    No transaction spans the request (not ATOMIC_REQUESTS): what is issued
    is stored in the one DOT's save_bearer_token opens, whose first write
    decides which of concurrent requests with one code or refresh token wins
    (TaskgateOAuth2Validator._save_bearer_token). The checks before it only
    read, and a refused reuse's revocations are committed as they are made.
    """

    # csrf_exempt again: DOT's is on the dispatch this overrides.
    @method_decorator(csrf_exempt)
    @method_decorator(transaction.non_atomic_requests)
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request, *args, **kwargs):
        """The token response as oauthlib made it.

        DOT's reads the issued access token back to send `app_authorized`;
        the validator has recorded the issue already (the audit event is
        written with the tokens), so that read and the signal are left out.
        """
        url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response

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
        wait = limit.exceeded_any(keys)
        if wait is not None:
            return too_many_requests(wait, f"Too many failed client authentications; retry in {wait} s.")
        response = self.authorization_flow_token_response(request)
        if response.status_code >= HTTPStatus.BAD_REQUEST and response["Content-Type"].startswith("text/html"):
            response["Content-Type"] = "application/json"
        if response.status_code == HTTPStatus.UNAUTHORIZED or _oauth_error(response) == "invalid_client":
            limit.hit_all(keys)
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
# DOT's views, which costs more than serving it.
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
    if settings.IDP_PRIVATE_KEY_JWT:
        # RFC 8414 §2: private_key_jwt at each endpoint that authenticates clients, and its algorithms.
        for endpoint in ("token", "revocation", "introspection"):
            data[f"{endpoint}_endpoint_auth_methods_supported"].append("private_key_jwt")
            data[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = list(signing_algorithms())
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
    """The client_id a request authenticated with: HTTP Basic, the form body, or
    the issuer of its client assertion (RFC 7521 §4.2, which makes client_id optional)."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(decoded.partition(":")[0])
    return request.POST.get("client_id") or assertion_issuer(request.POST.get("client_assertion"))


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
            wait = limit.hit_all(_limit_keys(request))
            if wait is not None:
                return too_many_requests(wait, f"Too many introspection requests; retry in {wait} s.")
        if request.method == "POST" and not (
            request.headers.get("Authorization")
            or request.POST.get("client_id")
            or request.POST.get("client_assertion")
        ):
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


class LogoutView(dot.RPInitiatedLogoutView):
    """OpenID Connect RP-Initiated Logout 1.0 §2, at /idp/logout.

    A relying party that keeps no ID token names itself with `client_id`
    (panva's openid-client always sends it); DOT looks that app up without
    handling a missing one, so an app since deleted or pruned is caught here:
    `invalid_request` on our page (400). The tokens a logout deletes are
    recorded in the audit log.
    """

    def get_request_application(self, id_token, client_id):
        try:
            return super().get_request_application(id_token, client_id)
        except Application.DoesNotExist:
            raise InvalidOIDCClientError("The app that sent you here is not registered with Taskgate.") from None

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        user = token_user or self.request.user
        count = 0
        if oauth2_settings.OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS and user.is_authenticated:
            count = get_access_token_model().objects.filter(user=user).count()
        response = super().do_logout(application, post_logout_redirect_uri, state, token_user)
        if count:
            audit_record(
                kind=AuditEvent.Kind.TOKEN_REVOKED,
                user=user,
                application=application,
                request=self.request,
                count=count,
                everyone=True,
                reason="The person logged out (OpenID Connect RP-Initiated Logout).",
            )
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
