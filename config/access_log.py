"""The server's access log keeps method, path, status and time, never a secret.

Query strings carry secrets (an authorization `code`, `state`, a `token`, an
ID token hint), and so do the paths of the links we email (email
confirmation, email change, password reset). This filter rewrites an access
log record before any handler sees it: the query string goes, and the token
segment of those paths is replaced. It knows the records of granian (the
production server, config.serve, whose format names the path and the query
apart) and of uvicorn (config.asgi, which writes the request line whole).
"""

from __future__ import annotations

import logging
import re

# The one-time tokens in the paths of emailed links (accounts/urls.py).
_TOKEN_PATHS = re.compile(
    r"^(?P<prefix>/accounts/(?:verify-email|email/change)/)[^/?]+(?P<rest>/?)"
    r"|^(?P<reset>/accounts/reset/)[^/?]+/[^/?]+(?P<reset_rest>/?)"
)
REDACTED = "[redacted]"


def redact_path(full_path: str) -> str:
    """`full_path` without its query string, and with a path token replaced."""
    path, _, query = full_path.partition("?")

    def replace(match: re.Match) -> str:
        if match.group("prefix"):
            return f"{match.group('prefix')}{REDACTED}{match.group('rest')}"
        return f"{match.group('reset')}{REDACTED}/{REDACTED}{match.group('reset_rest')}"

    path = _TOKEN_PATHS.sub(replace, path, count=1)
    return f"{path}?{REDACTED}" if query else path


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict) and isinstance(args.get("path"), str):
            # granian: a mapping of atoms, `path` without its query, `query_string` apart.
            record.args = {
                **args,
                "path": redact_path(args["path"]),
                "query_string": REDACTED if args.get("query_string") else "",
            }
        elif isinstance(args, tuple):
            # uvicorn's (client, method, full_path, version, status), Django's ("Bad Request", path).
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg for arg in args
            )
        return True


def _redacted_if_path(value):
    return redact_path(value) if isinstance(value, str) and value.startswith("/") else value


# The servers' access logs, and Django's log of requests answered 4xx or 5xx (which names the path).
ACCESS_LOGGERS = ("granian.access", "uvicorn.access", "django.request")


def access_log_redact() -> None:
    """Install the filter on the access loggers of the servers we run under (once per process)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
