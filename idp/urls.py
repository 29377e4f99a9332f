"""The provider's endpoints, all on the issuer origin under /idp.

The URL names are DOT's own: its views reverse them (in the
`oauth2_provider` namespace) to build discovery documents and `iss`.
"""

from django.db import transaction
from django.urls import path
from oauth2_provider import views as dot

from idp.views.authorize import ConsentView
from idp.views.discovery import ProtectedResourceMetadataView, ProviderMetadataView
from idp.views.introspection import IntrospectView
from idp.views.logout import LogoutView
from idp.views.registration import ClientConfigurationView, ClientRegistrationView
from idp.views.token import TokenView
from idp.views.userinfo import UserInfoView

app_name = "idp"

urlpatterns = [
    path("idp", ConsentView.as_view(), name="authorize"),
    path("idp/token", TokenView.as_view(), name="token"),
    path("idp/revoke", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("idp/introspect", IntrospectView.as_view(), name="introspect"),
    path("idp/userinfo", UserInfoView.as_view(), name="user-info"),
    path("idp/jwks", transaction.non_atomic_requests(dot.JwksInfoView.as_view()), name="jwks-info"),
    path("idp/logout", LogoutView.as_view(), name="rp-initiated-logout"),
    path("idp/register", ClientRegistrationView.as_view(), name="dcr-register"),
    path("idp/register/<str:client_id>", ClientConfigurationView.as_view(), name="dcr-register-management"),
    path(
        ".well-known/openid-configuration",
        ProviderMetadataView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(
        ".well-known/oauth-authorization-server",
        ProviderMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    # RFC 9728 §3.1: the metadata of the resource <origin>/mcp, and the root
    # form, which clients try when they are not told where to look.
    path(
        ".well-known/oauth-protected-resource/mcp",
        ProtectedResourceMetadataView.as_view(),
        name="mcp-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
]
