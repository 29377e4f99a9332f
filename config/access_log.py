"""The server's access log keeps method, path, status and time, never a secret.

Query strings carry secrets (an authorization `code`, `state`, a `token`, an
ID token hint), and so do the paths of the links we email (email
confirmation, email change, password reset). Uvicorn's access log writes the
request line whole; this filter rewrites it before any handler sees it:
the query string goes, and the token segment of those paths is replaced.
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
    """For uvicorn's access logger, whose records carry (client, method, full_path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_path(args[2]), args[3], args[4])
        return True


def access_log_redact() -> None:
    """Install the filter on the access loggers of the servers we run under (once per process)."""
    for name in ("uvicorn.access",):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
