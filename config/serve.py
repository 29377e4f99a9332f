"""The production server: `python -m config.serve [--host H] [--port P] [--workers N]`.

granian's WSGI server with config.wsgi's application (Django, and /mcp on an
event loop of each worker), DJANGO_THREADS threads per worker running the
requests. `make run` serves the site this way, the live-server tests too, and
README's deployment section says how to run it in production.

Why WSGI: every view of ours is synchronous, and granian calls Django
straight from its own threads, where an ASGI server hands each request from
its event loop to a thread and back, the largest cost left around a cheap
request (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

from config.startup import settings_load_or_exit

ACCESS_LOG_FORMAT = '[%(time)s] %(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1f ms'


def command(*, host: str, port: int, workers: int, threads: int, app: str = "config.wsgi:application") -> list[str]:
    """The server's command line (`app`: the benchmark serves config.wsgi with its bare view added)."""
    return [
        sys.executable, "-m", "granian", "--interface", "wsgi", app,
        "--host", host, "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads),
        # /mcp is plain HTTP (streamable HTTP, JSON responses); nothing here speaks WebSocket.
        "--no-ws",
        # Method, path, status and time; no query string, and config.access_log hides
        # the token in the path of an emailed link.
        "--access-log", "--access-log-fmt", ACCESS_LOG_FORMAT,
        # A stop waits for the requests in flight, but not for ever for idle keep-alive clients.
        "--workers-kill-timeout", "30",
    ]  # fmt: skip


def address_of(host: str) -> str | None:
    """The IP address to listen on: granian takes only addresses, `localhost` is a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except (OSError, UnicodeError):
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m config.serve", description="Serve Taskgate with granian's WSGI server (production)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, one per core (default 1)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be from 1 to 65535")
    host = address_of(args.host)
    if host is None:
        parser.error(f"--host must be an IP address or a name that resolves to one; got {args.host!r}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    # A refused setting stops here with its sentence, before any worker starts.
    settings_load_or_exit()
    from django.conf import settings

    threads = settings.DJANGO_THREADS
    argv = command(host=host, port=args.port, workers=args.workers, threads=threads)
    # The server replaces this process: signals (SIGTERM to stop) reach granian itself.
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and arguments, no shell


if __name__ == "__main__":
    main()
