"""System checks for accounts."""

from __future__ import annotations

from django.core.checks import Error, register

from accounts.upstream import upstream_enabled, upstream_provider
from accounts.upstream_errors import UpstreamLoginError


@register("upstream_oidc", deploy=True)
def upstream_discovery_check(app_configs, **kwargs) -> list[Error]:
    """`manage.py check --deploy`: the upstream's discovery document can be read and fits.

    A deploy-time check only, so that `migrate` and `runserver` never wait on
    the network; at run time the document is read when a login first needs
    it, and a failure is shown on the login page and logged.
    """
    if not upstream_enabled():
        return []
    try:
        upstream_provider(refresh=True)
    except UpstreamLoginError as error:
        return [
            Error(
                f"The upstream provider's discovery document cannot be used: {error.detail}.",
                hint="Check UPSTREAM_OIDC_ISSUER, and that this machine can reach the upstream provider.",
                id="accounts.E001",
            )
        ]
    return []
