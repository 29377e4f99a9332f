"""The authorization endpoint and its consent page (RFC 6749 §3.1, §4.1.1)."""

from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from oauth2_provider import views as dot
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.scopes import get_scopes_backend
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from idp.audit import AuditEvent, audit_record
from idp.authentication import REQUEST_ATTRIBUTE, SESSION_KEY, from_session
from idp.cimd import cimd_refusal
from idp.models import Application
from idp.resources import refuse_unserved_resources


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
