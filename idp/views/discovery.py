"""The metadata documents: the provider's (OpenID Connect Discovery 1.0, RFC 8414) and the MCP resource's (RFC 9728)."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.test.signals import setting_changed
from django.utils.decorators import method_decorator
from django.views.generic import View
from oauth2_provider import views as dot
from oauth2_provider.compat import login_not_required

from idp.client_assertions import signing_algorithms


def _metadata(view_class: type[View], request: HttpRequest) -> dict:
    return json.loads(view_class.as_view()(request).content)


# The document depends on settings only (the issuer is SITE_URL, not the
# request's host), so each process builds it once: building it runs two of
# DOT's views, which costs more than serving it.
_provider_metadata: dict[str, bytes] = {}


@receiver(setting_changed, dispatch_uid="idp.views.discovery.forget_provider_metadata")
def _forget_provider_metadata(**kwargs) -> None:
    _provider_metadata.clear()


def _build_provider_metadata(request: HttpRequest) -> bytes:
    data = _metadata(dot.OAuthServerMetadataView, request)
    data.update(_metadata(dot.ConnectDiscoveryInfoView, request))
    # HS256 signing with client secrets is not offered (idp.Application.algorithm).
    data["id_token_signing_alg_values_supported"] = ["RS256"]
    # DOT builds this list from a set; sorted, the document is the same on every request.
    data["claims_supported"] = sorted(data["claims_supported"])
    # Introspection is for confidential clients and resource servers only.
    data["introspection_endpoint_auth_methods_supported"] = ["client_secret_basic", "client_secret_post"]
    if settings.IDP_PRIVATE_KEY_JWT:
        # RFC 8414 §2: private_key_jwt at each endpoint that authenticates clients, and its algorithms.
        for endpoint in ("token", "revocation", "introspection"):
            data[f"{endpoint}_endpoint_auth_methods_supported"].append("private_key_jwt")
            data[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = list(signing_algorithms())
    data["request_parameter_supported"] = False
    data["claims_parameter_supported"] = False
    return json.dumps(data).encode()


@method_decorator(login_not_required, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ProviderMetadataView(View):
    """OpenID Connect Discovery 1.0 §4 and RFC 8414 §3 in one document.

    Served at `/.well-known/openid-configuration` and
    `/.well-known/oauth-authorization-server` so that both agree: same
    issuer, same endpoints. Built from DOT's two documents, once per process.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        body = _provider_metadata.get("document")
        if body is None:
            body = _provider_metadata["document"] = _build_provider_metadata(request)
        response = HttpResponse(body, content_type="application/json")
        response["Cache-Control"] = "public, max-age=3600"
        return response


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ProtectedResourceMetadataView(dot.OAuthProtectedResourceMetadataView):
    """RFC 9728 §3: metadata of the MCP endpoint, at
    `/.well-known/oauth-protected-resource/mcp` and at the root form.

    Its values are in OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_*"]; the
    scopes are the task scopes only, those the MCP tools need.
    """

    def get_scopes_supported(self):
        return list(settings.TASK_SCOPES)

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Cache-Control"] = "public, max-age=3600"
        return response
