"""`/bench/bare`, the bare view: a Django view that returns a fixed JSON body.

Only the benchmark's entry points (benchmarks.asgi, benchmarks.wsgi) serve
it, by adding it to Taskgate's URLs before the first request: the site
itself never has it, and there is no second settings module.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path

BODY = {"status": "ok", "service": "taskgate", "items": [{"id": n, "title": f"Item {n}"} for n in range(3)]}


def bare(request):
    """What the server, Django and our middleware cost with no work of our own."""
    return JsonResponse(BODY)


def add_bare_view() -> None:
    import config.urls

    if not any(getattr(pattern, "name", None) == "bench-bare" for pattern in config.urls.urlpatterns):
        config.urls.urlpatterns.insert(0, path("bench/bare", bare, name="bench-bare"))
