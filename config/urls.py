from django.contrib import admin
from django.urls import include, path

import accounts.urls
import accounts.views
import idp.urls
import tasks.urls
from idp.activity.views import activity_dashboard
from tasks.docs import mcp_docs

urlpatterns = [
    path("", include(accounts.urls)),
    # Before the admin's own: the login form gives way to the upstream under UPSTREAM_OIDC_ONLY.
    path("admin/login/", accounts.views.admin_login),
    path("admin/activity/", admin.site.admin_view(activity_dashboard), name="admin-activity"),
    path("admin/", admin.site.urls),
    path("api/", include(tasks.urls)),
    path("docs/mcp", mcp_docs, name="mcp-docs"),
    # The provider's URLs answer to `idp:` names, and to `oauth2_provider:`,
    # the namespace DOT's own views reverse.
    path("", include((idp.urls.urlpatterns, "idp"), namespace="idp")),
    path("", include((idp.urls.urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
]
