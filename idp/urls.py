"""The provider's endpoints, all on the issuer origin under /idp.

The URL names are DOT's own: its views reverse them (in the
`oauth2_provider` namespace) to build discovery documents and `iss`.
"""

from django.db import transaction
from django.urls import path
from oauth2_provider import views as dot

from idp import views

app_name = "idp"

urlpatterns = [
    path("idp", views.ConsentView.as_view(), name="authorize"),
    path("idp/token", views.TokenView.as_view(), name="token"),
    path("idp/revoke", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("idp/introspect", views.IntrospectView.as_view(), name="introspect"),
    path("idp/userinfo", views.UserInfoView.as_view(), name="user-info"),
    path("idp/jwks", transaction.non_atomic_requests(dot.JwksInfoView.as_view()), name="jwks-info"),
    path("idp/logout", views.LogoutView.as_view(), name="rp-initiated-logout"),
    path("idp/register", views.ClientRegistrationView.as_view(), name="dcr-register"),
    path("idp/register/<str:client_id>", views.ClientConfigurationView.as_view(), name="dcr-register-management"),
    path(
        ".well-known/openid-configuration",
        views.ProviderMetadataView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.ProviderMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    # RFC 9728 §3.1: the metadata of the resource <origin>/mcp, and the root
    # form, which clients try when they are not told where to look.
    path(
        ".well-known/oauth-protected-resource/mcp",
        views.ProtectedResourceMetadataView.as_view(),
        name="mcp-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        views.ProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
]
