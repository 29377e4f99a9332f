"""WSGI entry point, for servers that do not speak ASGI (the MCP endpoint needs ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Each server process listens for the end of tokens (idp.token_cache).
from idp import token_cache  # noqa: E402

token_cache.listen()
