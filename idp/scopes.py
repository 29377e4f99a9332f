from __future__ import annotations

from oauth2_provider.scopes import SettingsScopes


class ApplicationScopes(SettingsScopes):
    """Limits each application to the scopes an admin allowed it (all when blank)."""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        scopes = super().get_available_scopes(application, request, *args, **kwargs)
        if application is not None and application.allowed_scopes.split():
            return [scope for scope in scopes if scope in application.allowed_scopes.split()]
        return scopes
