"""WSGI entry point, for servers that do not speak ASGI (the MCP endpoint needs ASGI)."""

from django.core.wsgi import get_wsgi_application

from config.startup import settings_load_or_exit

settings_load_or_exit()
application = get_wsgi_application()

# Each server process listens for the end of tokens (idp.token_cache).
from idp import token_cache  # noqa: E402

token_cache.listen()
