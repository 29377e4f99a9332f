"""How drf-spectacular describes the task API's authentication (OpenAPI 3.1 §4.8.27).

drf-spectacular's own DOT extension matches OAuth2Authentication exactly, not
its subclasses, so TaskTokenAuthentication needs this one. Imported by
TasksConfig.ready() to register it.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from tasks.authentication import required_scope


class TaskTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """The `oauth2` scheme: our authorization-code flow, and per operation the one scope it needs."""

    target_class = "tasks.authentication.TaskTokenAuthentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema):
        return {self.name: [required_scope(auto_schema.method)]}

    def get_security_definition(self, auto_schema):
        token_url = settings.SITE_URL + reverse("idp:token")
        return {
            "type": "oauth2",
            "description": "Sign in with Taskgate and allow the app to see or change your tasks.",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": settings.SITE_URL + reverse("idp:authorize"),
                    "tokenUrl": token_url,
                    "refreshUrl": token_url,
                    "scopes": dict(settings.TASK_SCOPES),
                }
            },
        }


def reject_unknown_request_fields(result, generator, request, public):
    """Request bodies say `additionalProperties: false`, as the API refuses unknown fields (400).

    A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).
    """
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
