"""A live Taskgate on its production server (config/serve.py) in a subprocess, for real clients over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the test database pytest-django made, for another process."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@dataclass
class LiveServer:
    """The production server (granian, config.wsgi) on a free loopback port, with SITE_URL set to match."""

    host: str = "127.0.0.1"
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 90.0) -> LiveServer:
        self.port = self.port or free_port()
        env = {
            **{
                key: value
                for key, value in os.environ.items()
                if key not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "GC_FREEZE_AFTER_REQUESTS")
            },
            "SITE_URL": self.url,
            "DATABASE_URL": test_database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **self.extra_env,
        }
        # The production server, as `make run` starts it (config/serve.py).
        command = [
            sys.executable, "-m", "config.serve", "--host", self.host, "--port", str(self.port),
            "--workers", str(self.workers),
        ]  # fmt: skip
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # A process group of its own: a stop that has to kill takes the workers with it.
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}")
            try:
                requests.get(f"{self.url}/.well-known/openid-configuration", timeout=1)
                return self
            # Several workers share the socket: a connection may wait for one that is still starting.
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not answer on {self.url} within {timeout} s")

    READY_LINE = "Started worker-"
    """What the server logs once a worker process has loaded the site and serves."""

    def wait_for_workers(self, timeout: float = 30.0) -> None:
        """Return once every worker process serves (start() returns when the first one answers)."""
        assert self.log_path, "wait_for_workers reads the server's log: give LiveServer a log_path"
        deadline = time.monotonic() + timeout
        while self.log_path.read_text(errors="replace").count(self.READY_LINE) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every worker started within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
