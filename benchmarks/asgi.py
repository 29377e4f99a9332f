"""config.asgi's application with the bare view (benchmarks.urls): `uvicorn benchmarks.asgi:application`."""

from benchmarks.urls import add_bare_view
from config.asgi import application  # noqa: F401 - served from here

add_bare_view()
