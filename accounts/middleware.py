"""REQUIRE_2FA_FOR_STAFF: the admin only for staff whose session passed a second factor."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import get_script_prefix, get_urlconf, reverse

from accounts.second_factor import user_has_second_factor


@functools.cache
def _admin_paths(root_urlconf: str, urlconf: str | None, script_prefix: str) -> tuple[str, tuple[str, str]]:
    """The admin's root, and its login and logout pages, per URLconf: every request asks,
    and reversing three names cost more than the rest of this middleware (the arguments are
    what reverse() depends on)."""
    return reverse("admin:index"), (reverse("admin:login"), reverse("admin:logout"))


class StaffSecondFactorMiddleware:
    """Staff reach /admin only from a session verified by a second factor.

    Checked on every admin request, not at login: a session made any other
    way (the admin's own login form, an upstream login, a session from before
    the setting was on) is held to the same rule. A staff member without a
    factor is led to set one up; one with a factor whose session did not give
    it is asked for it (the second-factor page, then back). The admin's login
    and logout pages stay open, so that staff can log in at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.REQUIRE_2FA_FOR_STAFF and self._guarded(request):
            user = request.user
            if not user_has_second_factor(user=user):
                messages.info(request, "Set up a passkey or an authenticator app to use the admin.")
                return HttpResponseRedirect(reverse("account_security"))
            if not user.is_verified():
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('login_verify')}?{query}")
        return self.get_response(request)

    @staticmethod
    def _guarded(request: HttpRequest) -> bool:
        admin_root, open_pages = _admin_paths(settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
        if not request.path.startswith(admin_root):
            return False
        if request.path in open_pages:
            return False
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated and user.is_staff)
