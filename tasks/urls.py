"""The task API under /api, its OpenAPI document and its docs page."""

from django.db import transaction
from django.urls import path

from tasks import apis, docs

app_name = "api"

urlpatterns = [
    path("tasks", apis.TaskListCreateApi.as_view(), name="task-list"),
    # A string, not <uuid:>: a malformed id gets the API's JSON 404, not the site's HTML one.
    path("tasks/<str:task_id>", apis.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<str:task_id>/complete", apis.TaskCompleteApi.as_view(), name="task-complete"),
    path("me", apis.MeApi.as_view(), name="me"),
    # The document and its page read no data: no transaction for them.
    path("schema", transaction.non_atomic_requests(docs.ApiSchemaView.as_view()), name="schema"),
    path("docs", transaction.non_atomic_requests(docs.ApiDocsView.as_view(url_name="api:schema")), name="docs"),
]
