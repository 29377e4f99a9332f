from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Tasks"

    def ready(self) -> None:
        from tasks import schema  # noqa: F401 - registers the OpenAPI description of the authentication
