from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

# Django's account views with our templates (templates/registration/); the
# names are Django's, which its password-reset views reverse.
urlpatterns = [
    path("", views.home, name="home"),
    path("privacy", views.privacy, name="privacy"),
    path("account", views.account, name="account"),
    path("account/apps/<int:consent_id>/revoke", views.connected_app_revoke, name="connected_app_revoke"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/verify-email/resend/", views.verify_email_resend, name="verify_email_resend"),
    path("accounts/verify-email/<str:token>/", views.verify_email, name="verify_email"),
    path("accounts/email/change/", views.email_change, name="email_change"),
    path("accounts/email/change/<str:token>/", views.email_change_confirm_view, name="email_change_confirm"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Login through an upstream OpenID provider (404 unless UPSTREAM_OIDC_ISSUER is set).
    path("accounts/upstream/login/", views.UpstreamLoginView.as_view(), name="upstream_login"),
    path("accounts/upstream/callback/", views.UpstreamCallbackView.as_view(), name="upstream_callback"),
    path("accounts/password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
