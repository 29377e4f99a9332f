"""What accounts.upstream takes over from mozilla-django-oidc beyond its public API.

Two overrides depend on the library's internals: the backend's and the
login view's `__init__`, which do not call the parent's (it reads endpoints
from settings; ours come from the discovery document). The ID token check
replaces the public get_payload_data, which verify_token must still call.
These tests fail loudly when
an upgrade changes what those internals do, so that the override is looked
at again rather than silently skipping new work of the parent.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from accounts.upstream import UpstreamOIDCBackend
from accounts.views import UpstreamLoginView


def attributes_set_by(function) -> set[str]:
    """The `self.<name>` a function assigns."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }


def test_the_backends_parent_init_sets_only_what_ours_sets_when_a_login_needs_it():
    """UpstreamOIDCBackend.__init__ sets UserModel; authenticate() sets the rest."""
    assert attributes_set_by(OIDCAuthenticationBackend.__init__) == {
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
        "OIDC_RP_CLIENT_ID",
        "OIDC_RP_CLIENT_SECRET",
        "OIDC_RP_SIGN_ALGO",
        "OIDC_RP_IDP_SIGN_KEY",
        "UserModel",
    }
    ours = attributes_set_by(UpstreamOIDCBackend.__init__) | attributes_set_by(UpstreamOIDCBackend.authenticate)
    assert attributes_set_by(OIDCAuthenticationBackend.__init__) <= ours


def test_the_login_views_parent_init_sets_only_what_ours_sets():
    """UpstreamLoginView.__init__ sets the client ID; get() sets the authorization endpoint."""
    assert attributes_set_by(OIDCAuthenticationRequestView.__init__) == {"OIDC_OP_AUTH_ENDPOINT", "OIDC_RP_CLIENT_ID"}
    ours = attributes_set_by(UpstreamLoginView.__init__) | attributes_set_by(UpstreamLoginView.get)
    assert attributes_set_by(OIDCAuthenticationRequestView.__init__) <= ours


def test_the_parent_checks_an_id_token_through_the_get_payload_data_we_replace():
    assert list(inspect.signature(OIDCAuthenticationBackend.get_payload_data).parameters) == ["self", "token", "key"]
    assert "self.get_payload_data(token, key)" in inspect.getsource(OIDCAuthenticationBackend.verify_token)
