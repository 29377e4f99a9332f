"""Loading the settings at start-up: a refused setting is one sentence, not a traceback.

config/settings.py stops with ImproperlyConfigured and a sentence saying what
to set. Every entry point (manage.py, config.asgi, config.wsgi) loads the
settings through here first, so an operator sees that sentence on standard
error and the process exits non-zero, whatever command or server started it.
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured

EXIT_BAD_SETTINGS = 2


def settings_load_or_exit() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - reading a setting loads config/settings.py
    except ImproperlyConfigured as error:
        sys.stderr.write(f"Taskgate cannot start: {error}\n")
        sys.stderr.flush()
        # os._exit, not SystemExit: a server that imports this module (uvicorn's
        # workers) would catch SystemExit and print a traceback of its own.
        os._exit(EXIT_BAD_SETTINGS)
