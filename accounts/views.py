from __future__ import annotations

from base64 import b32encode
from http import HTTPStatus
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import View
from django_otp import login as otp_login
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, get_next_url

from accounts.backends import MODEL_BACKEND
from accounts.forms import CodeForm, EmailChangeForm, LoginForm, PasswordAgainForm, ProfileForm, SignupForm
from accounts.second_factor import (
    NEW_RECOVERY_CODES_SESSION_KEY,
    SecondFactorLocked,
    code_verify,
    login_complete,
    login_needs_second_factor,
    login_pending,
    login_pending_start,
    mark_recently_authenticated,
    passkey_list,
    passkey_remove,
    passkey_rename,
    recently_authenticated,
    recovery_codes_left,
    recovery_codes_make,
    session_authentication_add,
    session_authentication_set,
    totp_device_confirm,
    totp_device_of,
    totp_device_pending,
    totp_device_remove,
    totp_device_start,
    user_has_second_factor,
)
from accounts.selectors import signup_enabled
from accounts.services import (
    email_change_check,
    email_change_confirm,
    email_change_request,
    email_verification_check,
    email_verification_send,
    email_verify,
    user_sign_up,
    user_update_profile,
)
from accounts.upstream import (
    log_upstream_login,
    log_upstream_refusal,
    upstream_callback_url,
    upstream_enabled,
    upstream_provider,
)
from accounts.upstream_errors import UpstreamLoginError, upstream_name
from idp.activity.records import activity_records_of, activity_summaries
from idp.audit import AuditEvent, audit_record
from idp.models import Consent
from idp.ratelimit import RateLimit, client_address
from idp.selectors import connected_app_list
from idp.services.consents import consent_revoke


def home(request):
    return render(request, "home.html")


def privacy(request):
    """The privacy policy, at a URL a published custom GPT can link to.

    Its text is PRIVACY_POLICY_TEXT when the operator sets one, else the
    template's own.
    """
    return render(request, "privacy.html", {"policy_text": settings.PRIVACY_POLICY_TEXT})


def _safe_next(request: HttpRequest) -> str:
    """`next` when it is a URL on this site (an authorization request waiting, say), else ""."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else ""


@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    """`/accounts/signup/`: create an account, be logged in at once, and get a link to verify the email.

    Until the link is opened, tokens say `email_verified: false`. Off with
    ALLOW_SIGNUP=0 (the page then says so, with a 404).
    """
    if not signup_enabled():
        return render(request, "registration/signup_closed.html", status=HTTPStatus.NOT_FOUND)
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or "account")
    if request.method == "POST":
        limit = RateLimit.parse("signup", settings.SIGNUP_RATE_LIMIT)
        retry_after = limit.hit(client_address(request))
        if retry_after is not None:
            return too_many_attempts(request, retry_after, "Too many sign-ups from your address.")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(
                email=form.cleaned_data["email"],
                name=form.cleaned_data["name"],
                password=form.cleaned_data["password1"],
                request=request,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error("password1" if field == "password" else field, errors)
        else:
            auth_login(request, user, backend=MODEL_BACKEND)
            messages.success(
                request,
                f"Welcome! We sent a link to {user.email}: open it to confirm your address. "
                "Until then, apps you allow are told it is not confirmed.",
            )
            return redirect(_safe_next(request) or "account")
    status = HTTPStatus.BAD_REQUEST if form.is_bound else HTTPStatus.OK
    return render(request, "registration/signup.html", {"form": form, "next": _safe_next(request)}, status=status)


@never_cache
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the verification email. GET only shows a button, so that
    mail scanners that open links do not confirm an address for the person."""
    try:
        user = email_verification_check(token=token)
    except ValidationError as error:
        return render(
            request, "registration/verify_email.html", {"error": error.messages[0]}, status=HTTPStatus.BAD_REQUEST
        )
    if request.method == "POST":
        email_verify(token=token, request=request)
        messages.success(request, f"Thank you: {user.email} is confirmed.")
        return redirect("account" if request.user.is_authenticated else "login")
    return render(request, "registration/verify_email.html", {"email": user.email})


@require_POST
@login_required
def verify_email_resend(request: HttpRequest) -> HttpResponse:
    if request.user.email_verified:
        messages.info(request, f"{request.user.email} is already confirmed.")
    elif email_verification_send(user=request.user):
        messages.success(request, f"We sent a new link to {request.user.email}.")
    else:
        messages.error(request, "The email could not be sent just now. Please try again in a few minutes.")
    return redirect("account")


@require_POST
@login_required
def email_change(request: HttpRequest) -> HttpResponse:
    """Ask to change the login email (from /account): a link goes to the new address."""
    user = request.user
    form = EmailChangeForm(request.POST, needs_password=user.has_usable_password())
    if form.is_valid():
        try:
            email_change_request(
                user=user,
                new_email=form.cleaned_data["new_email"],
                password=form.cleaned_data.get("password"),
                request=request,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field, errors)
        else:
            messages.success(
                request,
                f"We sent a link to {user.pending_email}. Open it to make it your login address; "
                f"until then you keep logging in with {user.email}.",
            )
            return redirect("account")
    return _account_page(request, email_form=form, status=HTTPStatus.BAD_REQUEST)


@never_cache
def email_change_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the email-change mail. GET only shows a button, so that mail
    scanners that open links do not change anyone's address."""
    try:
        user = email_change_check(token=token)
        if request.method == "POST":
            user = email_change_confirm(token=token, request=request)
            messages.success(request, f"Done: you now log in with {user.email}.")
            return redirect("account" if request.user.is_authenticated else "login")
    except ValidationError as error:
        context = {"error": error.messages[0]}
        return render(request, "registration/email_change_confirm.html", context, status=HTTPStatus.BAD_REQUEST)
    return render(request, "registration/email_change_confirm.html", {"email": user.pending_email})


@never_cache
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """`/account`: the person's profile, password, and the apps that act for them."""
    user = request.user
    form = ProfileForm(request.POST or None, initial={"name": user.get_full_name()})
    if request.method == "POST" and form.is_valid():
        try:
            user_update_profile(user=user, name=form.cleaned_data["name"])
        except ValidationError as error:
            form.add_error("name", error.message_dict.get("name", error.messages))
        else:
            messages.success(request, "Your name is saved.")
            return redirect("account")
    return _account_page(request, form=form, status=HTTPStatus.BAD_REQUEST if form.is_bound else HTTPStatus.OK)


def _account_page(request: HttpRequest, *, form=None, email_form=None, status=HTTPStatus.OK) -> HttpResponse:
    user = request.user
    context = {
        "form": form or ProfileForm(initial={"name": user.get_full_name()}),
        "email_form": email_form or EmailChangeForm(needs_password=user.has_usable_password()),
        "connected_apps": _with_activity(user, connected_app_list(user=user)),
        "can_change_password": user.has_usable_password() and not settings.UPSTREAM_OIDC_ONLY,
        "upstream_name": upstream_name() if upstream_enabled() else "",
    }
    return render(request, "accounts/account.html", context, status=status)


def _with_activity(user, apps: list) -> list[tuple]:
    """Each connected app with what it did for the person lately, in words (one query for all)."""
    summaries = activity_summaries(user=user, application_ids=[app.application.pk for app in apps])
    return [(app, summaries[app.application.pk]) for app in apps]


ACTIVITY_PAGE_SIZE = 50


@never_cache
@login_required
def connected_app_activity(request: HttpRequest, consent_id: int) -> HttpResponse:
    """Everything a connected app did to the person's tasks, newest first, a page at a time."""
    consent = get_object_or_404(Consent.objects.select_related("application"), pk=consent_id, user=request.user)
    records = activity_records_of(user=request.user, application=consent.application)
    raw_page = request.GET.get("page", "1")
    paginator = Paginator(records, ACTIVITY_PAGE_SIZE)
    context = {"application": consent.application, "retention_days": settings.ACTIVITY_RETENTION_DAYS}
    try:
        page = paginator.page(raw_page)
    except (EmptyPage, PageNotAnInteger):
        context["error"] = f"There is no page {raw_page[:20]!r}: give a page number from 1 to {paginator.num_pages}."
        return render(request, "accounts/app_activity.html", context, status=HTTPStatus.BAD_REQUEST)
    context["page"] = page
    return render(request, "accounts/app_activity.html", context)


@require_POST
@login_required
def connected_app_revoke(request: HttpRequest, consent_id: int) -> HttpResponse:
    """The Revoke button: the app's tokens for this person end, and it must ask again."""
    consent = get_object_or_404(Consent.objects.select_related("application"), pk=consent_id, user=request.user)
    name = consent.application.name
    consent_revoke(consent=consent, request=request)
    messages.success(
        request, f"{name} can no longer act for you. If you use it again, it will ask for your permission."
    )
    return redirect(reverse("account") + "#connected-apps")


class LoginView(auth_views.LoginView):
    """Log in, then return to `next` when it is a URL on this site (Django checks it).

    With an upstream provider configured, the page also offers "Sign in with
    <name>"; with UPSTREAM_OIDC_ONLY=1 that is the only way in. A person with
    a second factor gives it after the password, on the next page, before
    being logged in. `fresh=1` (prompt=login, max_age) shows the form even to
    someone logged in, so that they authenticate again.
    """

    form_class = LoginForm

    @property
    def redirect_authenticated_user(self) -> bool:
        return not self._fresh()

    def _fresh(self) -> bool:
        return (self.request.POST.get("fresh") or self.request.GET.get("fresh")) == "1"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["upstream_name"] = upstream_name() if upstream_enabled() else ""
        context["password_login"] = not settings.UPSTREAM_OIDC_ONLY
        context["signup_enabled"] = signup_enabled()
        context["passkey_login"] = settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN
        context["fresh"] = self._fresh()
        return context

    def post(self, request, *args, **kwargs):
        if settings.UPSTREAM_OIDC_ONLY:
            # The password backend is not installed either (AUTHENTICATION_BACKENDS),
            # so no password could succeed: say why instead of "wrong password".
            messages.error(request, f"Passwords are not used here: sign in with {upstream_name()}.")
            context = self.get_context_data(form=self.form_class(request))
            return self.render_to_response(context, status=HTTPStatus.FORBIDDEN)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if login_needs_second_factor(user=user, backend=user.backend):
            login_pending_start(
                request=self.request, user=user, backend=user.backend, methods=["pwd"], next_url=self.get_success_url()
            )
            return HttpResponseRedirect(reverse("login_verify"))
        response = super().form_valid(form)
        session_authentication_set(request=self.request, methods=["pwd"])
        return response


login = never_cache(LoginView.as_view())


def admin_login(request: HttpRequest) -> HttpResponse:
    """`/admin/login/`: with UPSTREAM_OIDC_ONLY=1 nobody logs in with a password, staff
    included, so the admin's password form gives way to the upstream login (and back)."""
    if settings.UPSTREAM_OIDC_ONLY:
        next_url = _safe_next(request) or reverse("admin:index")
        return HttpResponseRedirect(reverse("upstream_login") + "?" + urlencode({"next": next_url}))
    return admin.site.login(request)


def too_many_attempts(request: HttpRequest, retry_after: int, sentence: str) -> HttpResponse:
    """RFC 6585 §4: 429 with Retry-After, on a page in the site's layout that says when to try again."""
    minutes = max(1, -(-retry_after // 60))
    response = render(
        request,
        "registration/too_many_attempts.html",
        {"sentence": sentence, "minutes": minutes},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(retry_after)
    return response


def upstream_refusal(request: HttpRequest, error: UpstreamLoginError, *, next_url: str | None) -> HttpResponseRedirect:
    """End a failed upstream login on our login page, with a sentence saying what went wrong.

    The log gets the reason and a detail written by accounts.upstream, never
    a token, code or secret; the login page keeps `next`, so that a retry
    still ends on the pending authorization request.
    """
    log_upstream_refusal(error)
    audit_record(kind=AuditEvent.Kind.LOGIN_FAILED, request=request, method="upstream", reason=error.reason)
    messages.error(request, error.sentence)
    url = reverse("login")
    if next_url:
        url += "?" + urlencode({"next": next_url})
    return HttpResponseRedirect(url)


@method_decorator(never_cache, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class UpstreamLoginView(OIDCAuthenticationRequestView):
    """`/accounts/upstream/login/`: send the person to the upstream provider to log in.

    OpenID Connect Core §3.1.2.1 authentication request, with `state`,
    `nonce` and PKCE S256 (RFC 7636) kept in the session by the parent.
    """

    def __init__(self, **kwargs):
        # The parent reads the authorization endpoint from settings; ours comes
        # from the discovery document, read in get() so that a failure is shown.
        # What the parent's would set is pinned by tests/accounts/test_upstream_library.py.
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not upstream_enabled():
            raise Http404("Login through an upstream provider is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = upstream_provider().authorization_endpoint
        except UpstreamLoginError as error:
            return upstream_refusal(request, error, next_url=get_next_url(request, "next"))
        return super().get(request)

    def get_extra_params(self, request):
        return {"redirect_uri": upstream_callback_url()}


@method_decorator(never_cache, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class UpstreamCallbackView(OIDCAuthenticationCallbackView):
    """`/accounts/upstream/callback/`: our redirection endpoint at the upstream (RFC 6749 §3.1.2).

    Runs outside a database transaction, so that no lock is held while the
    upstream answers; the account is linked or created in one transaction
    (accounts.services.external_identity_login), and nothing is written
    when the login is refused.
    """

    failure: UpstreamLoginError | None = None

    def get(self, request):
        if not upstream_enabled():
            raise Http404("Login through an upstream provider is not configured.")
        try:
            self.check_authorization_response(request)
            return super().get(request)
        except UpstreamLoginError as error:
            self.failure = error
            return self.login_failure()

    def check_authorization_response(self, request: HttpRequest) -> None:
        """What must hold before the code is used, which the parent checks loosely or not at all.

        `state` must be one this browser's session issued (RFC 6749 §10.12;
        the parent answers a 400 page otherwise); `iss`, when sent or
        promised by discovery, must be the upstream's (RFC 9207 §2.4, against
        mix-up attacks); an error response is reported (RFC 6749 §4.1.2.1).
        The state is discarded on every failure, so it cannot be replayed.
        """
        state = request.GET.get("state")
        states = request.session.get("oidc_states")
        if not state or not isinstance(states, dict) or state not in states:
            raise UpstreamLoginError("state_mismatch", detail="the state is not one this session started")
        provider = upstream_provider()
        iss = request.GET.get("iss")
        if iss != provider.issuer and (iss is not None or provider.iss_parameter_required):
            self.discard_state(request, state)
            raise UpstreamLoginError("wrong_issuer", detail="the authorization response's iss is not the issuer's")
        if error := request.GET.get("error"):
            self.discard_state(request, state)
            raise UpstreamLoginError.from_authorization_error(error)
        if not request.GET.get("code"):
            self.discard_state(request, state)
            raise UpstreamLoginError("missing_code", detail="the authorization response has no code")

    @staticmethod
    def discard_state(request: HttpRequest, state: str) -> None:
        request.session["oidc_states"].pop(state, None)
        request.session.modified = True

    def login_failure(self):
        # The parent also ends here when authentication returns no user, which
        # our backend never does without raising; say something all the same.
        error = self.failure or UpstreamLoginError("invalid_response", detail="no user was authenticated")
        return upstream_refusal(self.request, error, next_url=self.request.session.get("oidc_login_next"))

    def login_success(self):
        backend = getattr(self.user, "backend", "")
        if login_needs_second_factor(user=self.user, backend=backend):
            # UPSTREAM_OIDC_REQUIRE_LOCAL_2FA: our own factor too, before the login counts.
            login_pending_start(
                request=self.request, user=self.user, backend=backend, methods=[], next_url=self.success_url
            )
            return HttpResponseRedirect(reverse("login_verify"))
        response = super().login_success()
        # No amr of ours: how the upstream authenticated the person is its own to say.
        session_authentication_set(request=self.request, methods=[])
        log_upstream_login(self.user)
        return response


# --- The second factor after a password, and the staff step-up -------------------


def _lockout_response(request: HttpRequest, retry_after: int) -> HttpResponse:
    """The password lockout's page and status (429, Retry-After) for too many wrong codes."""
    minutes = max(1, -(-retry_after // 60))
    response = render(
        request,
        "registration/lockout.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(retry_after)
    return response


@never_cache
def login_verify(request: HttpRequest) -> HttpResponse:
    """`/accounts/login/verify/`: a passkey, an authenticator-app code or a recovery code.

    Either after a correct password (the login waits in the session, the
    person is not logged in yet, and no consent page can be reached), or for
    a staff member whose session has not given one (REQUIRE_2FA_FOR_STAFF).
    """
    pending = login_pending(request)
    stepping_up = pending is None and request.user.is_authenticated and not request.user.is_verified()
    if pending is None and not stepping_up:
        return redirect("login")
    user = pending.user if pending is not None else request.user
    if stepping_up and not user_has_second_factor(user=user):
        return redirect("account_security")
    form = CodeForm(request.POST or None)
    status = HTTPStatus.OK
    if request.method == "POST" and form.is_valid():
        try:
            device = code_verify(user=user, code=form.cleaned_data["code"], request=request)
        except SecondFactorLocked as locked:
            return _lockout_response(request, locked.retry_after)
        except ValidationError as error:
            form.add_error("code", error.messages)
        else:
            if pending is not None:
                login_complete(
                    request=request,
                    user=user,
                    backend=pending.backend,
                    methods=[*pending.methods, "otp"],
                    device=device,
                )
                return HttpResponseRedirect(pending.next_url or reverse(settings.LOGIN_REDIRECT_URL))
            otp_login(request, device)
            session_authentication_add(request=request, method="otp")
            return HttpResponseRedirect(_safe_next(request) or reverse("admin:index"))
    if form.is_bound:
        status = HTTPStatus.BAD_REQUEST
    context = {
        "form": form,
        "has_passkey": settings.PASSKEYS_ENABLED and bool(passkey_list(user=user)),
        "has_totp": totp_device_of(user=user) is not None,
        "has_recovery_codes": recovery_codes_left(user=user) > 0,
        "next": _safe_next(request),
    }
    return render(request, "registration/login_verify.html", context, status=status)


# --- /account/security: passkeys, the authenticator app, recovery codes ---------


def _security_page(request: HttpRequest, *, password_form=None, status=HTTPStatus.OK) -> HttpResponse:
    user = request.user
    context = {
        "passkeys_enabled": settings.PASSKEYS_ENABLED,
        "passkeys": passkey_list(user=user),
        "totp": totp_device_of(user=user),
        "recovery_codes_left": recovery_codes_left(user=user),
        "has_second_factor": user_has_second_factor(user=user),
        "new_recovery_codes": request.session.pop(NEW_RECOVERY_CODES_SESSION_KEY, None),
        "recent": recently_authenticated(request),
        "password_form": password_form or PasswordAgainForm(),
        "can_use_password": user.has_usable_password() and not settings.UPSTREAM_OIDC_ONLY,
    }
    return render(request, "accounts/security.html", context, status=status)


@never_cache
@login_required
def account_security(request: HttpRequest) -> HttpResponse:
    """`/account/security`: the person's second factors, each change behind a recent authentication."""
    return _security_page(request)


@require_POST
@login_required
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """The password again, through the login backends (so guesses count towards the lockout)."""
    form = PasswordAgainForm(request.POST)
    if form.is_valid():
        if authenticate(request, username=request.user.email, password=form.cleaned_data["password"]) == request.user:
            mark_recently_authenticated(request)
            return redirect("account_security")
        form.add_error("password", "That is not your password.")
    return _security_page(request, password_form=form, status=HTTPStatus.BAD_REQUEST)


def _needs_recent(request: HttpRequest) -> HttpResponse | None:
    if recently_authenticated(request):
        return None
    messages.error(request, "Confirm it is you first: give your password or use a passkey.")
    return redirect("account_security")


def _totp_setup_page(request: HttpRequest, device, *, form=None, status=HTTPStatus.OK) -> HttpResponse:
    qr = segno.make(device.config_url, error="m")
    context = {
        "device": device,
        # Drawn here, as inline SVG: the key never leaves the site for a QR service.
        "qr_svg": qr.svg_inline(scale=5, dark="#111", light="#fff", title="QR code of your authenticator key"),
        "key_text": " ".join(b32encode(device.bin_key).decode().rstrip("=")[i : i + 4] for i in range(0, 32, 4)),
        "form": form or CodeForm(),
    }
    return render(request, "accounts/totp_setup.html", context, status=status)


@require_POST
@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    """A new key for an authenticator app, shown as a QR code and as text; it counts once confirmed."""
    if response := _needs_recent(request):
        return response
    return _totp_setup_page(request, totp_device_start(user=request.user))


@require_POST
@login_required
def totp_confirm(request: HttpRequest) -> HttpResponse:
    if response := _needs_recent(request):
        return response
    device = totp_device_pending(user=request.user, device_id=request.POST.get("device"))
    if device is None:
        messages.error(request, "That set-up has expired or was replaced. Start again.")
        return redirect("account_security")
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            codes = totp_device_confirm(
                user=request.user, device=device, code=form.cleaned_data["code"], request=request
            )
        except ValidationError as error:
            form.add_error("code", error.messages)
        else:
            if codes:
                request.session[NEW_RECOVERY_CODES_SESSION_KEY] = codes
            messages.success(
                request, "Your authenticator app is set up: you will be asked for a code after your password."
            )
            return redirect("account_security")
    return _totp_setup_page(request, device, form=form, status=HTTPStatus.BAD_REQUEST)


@require_POST
@login_required
def totp_remove(request: HttpRequest) -> HttpResponse:
    if response := _needs_recent(request):
        return response
    if totp_device_remove(user=request.user, request=request):
        messages.success(request, "The authenticator app is removed.")
    return redirect("account_security")


@require_POST
@login_required
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    if response := _needs_recent(request):
        return response
    if not user_has_second_factor(user=request.user):
        messages.error(request, "Recovery codes stand in for a passkey or an authenticator app: set one up first.")
        return redirect("account_security")
    request.session[NEW_RECOVERY_CODES_SESSION_KEY] = recovery_codes_make(user=request.user, request=request)
    return redirect(reverse("account_security") + "#recovery-codes")


@require_POST
@login_required
def passkey_rename_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    try:
        passkey = passkey_rename(user=request.user, passkey_id=passkey_id, name=request.POST.get("name", ""))
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, f"The passkey is now called {passkey.name}.")
    return redirect(reverse("account_security") + "#passkeys")


@require_POST
@login_required
def passkey_remove_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    if response := _needs_recent(request):
        return response
    if passkey_remove(user=request.user, passkey_id=passkey_id, request=request):
        messages.success(request, "The passkey is removed.")
    else:
        messages.error(request, "That passkey is not one of yours.")
    return redirect(reverse("account_security") + "#passkeys")
