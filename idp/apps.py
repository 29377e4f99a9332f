from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    verbose_name = "Identity provider"

    def ready(self) -> None:
        from idp import receivers  # noqa: F401 - connects the audit log's signal receivers
