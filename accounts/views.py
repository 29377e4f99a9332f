from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, get_next_url

from accounts.forms import EmailChangeForm, LoginForm, ProfileForm, SignupForm
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
    UpstreamLoginError,
    logger,
    upstream_callback_url,
    upstream_enabled,
    upstream_name,
    upstream_provider,
)
from idp.models import AuditEvent, Consent
from idp.ratelimit import RateLimit, client_address
from idp.selectors import connected_app_list
from idp.services import audit_record, consent_revoke


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
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
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
        "connected_apps": connected_app_list(user=user),
        "can_change_password": user.has_usable_password() and not settings.UPSTREAM_OIDC_ONLY,
        "upstream_name": upstream_name() if upstream_enabled() else "",
    }
    return render(request, "accounts/account.html", context, status=status)


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
    <name>"; with UPSTREAM_OIDC_ONLY=1 that is the only way in.
    """

    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["upstream_name"] = upstream_name() if upstream_enabled() else ""
        context["password_login"] = not settings.UPSTREAM_OIDC_ONLY
        context["signup_enabled"] = signup_enabled()
        return context

    def post(self, request, *args, **kwargs):
        if settings.UPSTREAM_OIDC_ONLY:
            # The password backend is not installed either (AUTHENTICATION_BACKENDS),
            # so no password could succeed: say why instead of "wrong password".
            messages.error(request, f"Passwords are not used here: sign in with {upstream_name()}.")
            context = self.get_context_data(form=self.form_class(request))
            return self.render_to_response(context, status=HTTPStatus.FORBIDDEN)
        return super().post(request, *args, **kwargs)


login = never_cache(LoginView.as_view())


def login_attempt_username(request: HttpRequest, credentials: dict | None) -> str:
    """The account a login attempt names, as django-axes counts it: emails in any case are one account."""
    username = (credentials or {}).get("username") or request.POST.get("username") or ""
    return username.strip().lower()


def locked_out(request: HttpRequest, response=None, credentials: dict | None = None, *args, **kwargs):
    """django-axes' answer to a locked-out account or address (AXES_LOCKOUT_CALLABLE).

    429 (RFC 6585 §4) with Retry-After and a page that says why and for how
    long, in the site's layout. The lockout is recorded by axes
    (AccessAttempt) and logged as a warning.
    """
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    logger.warning(
        "Login locked out for %s minutes after %s failed attempts (address %s).",
        minutes,
        settings.AXES_FAILURE_LIMIT,
        request.META.get("REMOTE_ADDR", "unknown"),
    )
    response = render(
        request,
        "registration/lockout.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


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
    logger.log(error.log_level, "Upstream login refused: %s (%s)", error.reason, error.detail)
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
        response = super().login_success()
        logger.info("Upstream login: user %s", self.user.sub)
        return response
