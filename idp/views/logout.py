"""OpenID Connect RP-Initiated Logout 1.0."""

from __future__ import annotations

from oauth2_provider import views as dot
from oauth2_provider.exceptions import InvalidOIDCClientError
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings

from idp.audit import AuditEvent, audit_record
from idp.models import Application


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
