from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.forms import LoginForm


def home(request):
    return render(request, "home.html")


def privacy(request):
    """The privacy policy, at a URL a published custom GPT can link to.

    Its text is PRIVACY_POLICY_TEXT when the operator sets one, else the
    template's own.
    """
    return render(request, "privacy.html", {"policy_text": settings.PRIVACY_POLICY_TEXT})


class LoginView(auth_views.LoginView):
    """Log in, then return to `next` when it is a URL on this site (Django checks it)."""

    form_class = LoginForm
    redirect_authenticated_user = True


login = never_cache(LoginView.as_view())
