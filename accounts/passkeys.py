"""Passkeys: django-otp-webauthn's JSON views (the WebAuthn ceremonies), with our rules.

The library does the ceremony (py_webauthn underneath) and stores the
credential; its JavaScript, served from our static files, calls these views.
What we add, through the hooks its views offer (`check_can_register`,
`complete_auth`, `get_success_url`):

- a passkey is added only within a recent authentication (password or passkey);
- a passkey ends the login that waits for a second factor after a password,
  for that person only; with no login waiting, it logs in on its own
  (passwordless, a discoverable credential); while logged in, it counts as a
  fresh authentication (prompt=login, max_age, changing factors);
- how the person logged in is recorded for `amr` (accounts.second_factor).

The URL names are the library's (`otp_webauthn:`), which its template tags reverse.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from django.views.i18n import JavaScriptCatalog
from django_otp import login as otp_login
from django_otp_webauthn import exceptions
from django_otp_webauthn import views as library
from django_otp_webauthn.models import WebAuthnCredential

from accounts.backends import PASSKEY_BACKEND
from accounts.second_factor import (
    NEW_RECOVERY_CODES_SESSION_KEY,
    login_complete,
    login_pending,
    passkey_added,
    passkey_method,
    recently_authenticated,
    session_authentication_set,
)
from idp.audit import AuditEvent, audit_record


class PasskeysOff(exceptions.OTPWebAuthnApiError):
    status_code = 404
    default_detail = "Passkeys work on this site only over https (or on localhost)."
    default_code = "passkeys_off"


class NotRecentlyAuthenticated(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = "Confirm it is you first: give your password or use a passkey, then add the passkey."
    default_code = "not_recently_authenticated"


class OtherAccount(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = "This passkey is for another account than the one you logged in with."
    default_code = "other_account"


class _PasskeysOn:
    def initial(self, request, *args, **kwargs):
        if not settings.PASSKEYS_ENABLED:
            raise PasskeysOff()
        super().initial(request, *args, **kwargs)

    def _parse_request_data(self, request):
        # The library turns bad JSON into its 400 but lets a body that is not
        # UTF-8 through to a 500.
        try:
            return super()._parse_request_data(request)
        except UnicodeDecodeError as error:
            raise exceptions.MalformedRequest() from error


class BeginRegistration(_PasskeysOn, library.BeginCredentialRegistrationView):
    def check_can_register(self):
        if not recently_authenticated(self.request):
            raise NotRecentlyAuthenticated()


class CompleteRegistration(_PasskeysOn, library.CompleteCredentialRegistrationView):
    def check_can_register(self):
        if not recently_authenticated(self.request):
            raise NotRecentlyAuthenticated()

    def post(self, *args, **kwargs):
        response = super().post(*args, **kwargs)
        device = WebAuthnCredential.objects.filter(
            user=self.request.user, pk=json.loads(response.content)["id"]
        ).first()
        if device is not None:
            if not device.name:
                count = WebAuthnCredential.objects.filter(user=self.request.user).count()
                device.name = f"Passkey {count}"
                device.save(update_fields=["name"])
            codes = passkey_added(user=self.request.user, device=device, request=self.request)
            if codes:
                # Shown once, by the next /account/security page (the library's script stays on its page).
                self.request.session[NEW_RECOVERY_CODES_SESSION_KEY] = codes
        return response


class BeginAuthentication(_PasskeysOn, library.BeginCredentialAuthenticationView):
    def post(self, *args, **kwargs):
        """The library's, except that user verification (the device's PIN or biometrics)
        is always required: the library asks for it only when nobody is logged in, but a
        passkey here also counts as a fresh login (prompt=login, max_age) and as the
        recent authentication before changing factors, which a mere tap must not be.
        The session key is the library's, read back by its complete view (a changed key
        fails tests/e2e/test_browser_passkeys.py)."""
        data, state = self.get_helper().authenticate_begin(user=self.get_user(), require_user_verification=True)
        self.request.session["otp_webauthn_authentication_state"] = state
        return JsonResponse(data)


class CompleteAuthentication(_PasskeysOn, library.CompleteCredentialAuthenticationView):
    """Second factor, passwordless login, or a fresh authentication while logged in."""

    pending_next = ""

    def post(self, *args, **kwargs):
        pending = login_pending(self.request)
        try:
            return super().post(*args, **kwargs)
        finally:
            # An assertion that did not verify while a login waited for it is a
            # failed second factor, audited like a wrong code.
            if pending is not None and login_pending(self.request) is not None:
                audit_record(
                    kind=AuditEvent.Kind.SECOND_FACTOR_FAILED, user=pending.user, request=self.request, method="passkey"
                )

    def complete_auth(self, device: WebAuthnCredential):
        method = passkey_method(device)
        pending = login_pending(self.request)
        if pending is not None:
            if device.user_id != pending.user.pk:
                raise OtherAccount()
            self.pending_next = pending.next_url
            login_complete(
                request=self.request,
                user=pending.user,
                backend=pending.backend,
                methods=[*pending.methods, method],
                device=device,
            )
        elif self.request.user.is_authenticated:
            if device.user_id != self.request.user.pk:
                raise OtherAccount()
            otp_login(self.request, device)
            session_authentication_set(request=self.request, methods=[method])
        else:
            login_complete(
                request=self.request, user=device.user, backend=PASSKEY_BACKEND, methods=[method], device=device
            )

    def get_success_url(self):
        return self.pending_next or super().get_success_url()


app_name = "otp_webauthn"

urlpatterns = [
    path("registration/begin/", BeginRegistration.as_view(), name="credential-registration-begin"),
    path("registration/complete/", CompleteRegistration.as_view(), name="credential-registration-complete"),
    path("authentication/begin/", BeginAuthentication.as_view(), name="credential-authentication-begin"),
    path("authentication/complete/", CompleteAuthentication.as_view(), name="credential-authentication-complete"),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
]
