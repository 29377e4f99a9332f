from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import passkeys, views

# Django's account views with our templates (templates/registration/); the
# names are Django's, which its password-reset views reverse.
urlpatterns = [
    path("", views.home, name="home"),
    path("privacy", views.privacy, name="privacy"),
    path("account", views.account, name="account"),
    path("account/apps/<int:consent_id>/revoke", views.connected_app_revoke, name="connected_app_revoke"),
    path("account/apps/<int:consent_id>/activity", views.connected_app_activity, name="connected_app_activity"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/login/verify/", views.login_verify, name="login_verify"),
    path("account/security", views.account_security, name="account_security"),
    path("account/security/reauthenticate", views.reauthenticate, name="reauthenticate"),
    path("account/security/totp/setup", views.totp_setup, name="totp_setup"),
    path("account/security/totp/confirm", views.totp_confirm, name="totp_confirm"),
    path("account/security/totp/remove", views.totp_remove, name="totp_remove"),
    path("account/security/recovery-codes", views.recovery_codes_regenerate, name="recovery_codes_regenerate"),
    path("account/security/passkeys/<int:passkey_id>/rename", views.passkey_rename_view, name="passkey_rename"),
    path("account/security/passkeys/<int:passkey_id>/remove", views.passkey_remove_view, name="passkey_remove"),
    # django-otp-webauthn's ceremonies (JSON, called by its script), with our rules.
    path("accounts/passkeys/", include((passkeys.urlpatterns, passkeys.app_name), namespace="otp_webauthn")),
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
