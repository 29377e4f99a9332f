"""Taskgate's URLs and `/bench/bare`, a Django view that returns a fixed JSON body."""

from django.http import JsonResponse
from django.urls import include, path

BODY = {"status": "ok", "service": "taskgate", "items": [{"id": n, "title": f"Item {n}"} for n in range(3)]}


def bare(request):
    """The ceiling: what the server, Django and our middleware cost with no work of our own."""
    return JsonResponse(BODY)


urlpatterns = [
    path("bench/bare", bare),
    path("", include("config.urls")),
]
