"""config.wsgi's application with the bare view (benchmarks.urls).

granian --interface wsgi benchmarks.wsgi:application
"""

from benchmarks.urls import add_bare_view
from config.wsgi import application  # noqa: F401 - served from here

add_bare_view()
