"""`make test` installs what its checks need beyond Python when it is missing (the `test-system` target).

The target is run for real by `make`, on a PATH of stubs: apt-get and
redis-server only record how they were called (installing Debian packages
would leave the machine), and chromium, npm and redis-server are present or
absent as each test needs. It was also run for real, on a new machine
without chromium: it installed it in 24 s (issue 15's closing note).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import BASE_DIR, free_port

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "{calls}"
exit {status}
"""


class Machine:
    """A PATH holding only the shell's basics and the stubs a test puts there."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.calls = tmp_path / "calls"
        self.calls.touch()
        for tool in ("sh", "basename"):
            (self.bin / tool).symlink_to(shutil.which(tool))

    def has(self, *tools: str, status: int = 0) -> None:
        for tool in tools:
            stub = self.bin / tool
            stub.write_text(RECORDER.format(calls=self.calls, status=status))
            stub.chmod(0o755)

    def make_test_system(self, redis_port: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [shutil.which("make"), "--no-print-directory", "test-system", f"PYTHON={sys.executable}"]
            + [f"REDIS_PORT={redis_port}"],
            cwd=BASE_DIR,
            env={"PATH": str(self.bin), "HOME": str(self.bin.parent)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def recorded(self) -> list[str]:
        return self.calls.read_text().splitlines()


@pytest.fixture
def machine(tmp_path) -> Machine:
    return Machine(tmp_path)


@pytest.fixture
def redis_port():
    """A port where something answers, standing in for a running Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_nothing_is_installed_or_started_when_everything_is_there(machine, redis_port):
    machine.has("chromium", "npm", "redis-server", "apt-get")

    result = machine.make_test_system(redis_port)

    assert result.returncode == 0, result.stderr
    assert machine.recorded() == []


def test_a_missing_chromium_and_npm_are_installed_from_debian_in_one_apt_get(machine, redis_port):
    machine.has("redis-server", "apt-get")

    result = machine.make_test_system(redis_port)

    assert result.returncode == 0, result.stderr
    assert "Installing what the tests need: chromium nodejs npm (Debian)" in result.stdout
    assert machine.recorded() == ["apt-get update -qq", "apt-get install -y -qq chromium nodejs npm"]


def test_a_failed_install_says_what_to_install_in_one_sentence_and_stops(machine, redis_port):
    machine.has("npm", "redis-server")
    machine.has("apt-get", status=100)

    result = machine.make_test_system(redis_port)

    assert result.returncode != 0
    assert "Could not install chromium: install them (apt-get install chromium), then run make test again." in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_redis_is_started_on_loopback_without_persistence_when_none_answers(machine):
    machine.has("chromium", "npm", "redis-server", "apt-get")
    port = free_port()

    result = machine.make_test_system(port)

    assert result.returncode == 0, result.stderr
    assert f"Starting Redis on 127.0.0.1:{port}" in result.stdout
    assert machine.recorded() == [
        f"redis-server --daemonize yes --bind 127.0.0.1 --port {port} --save  --appendonly no"
    ]


def test_redis_server_is_installed_when_no_redis_answers_and_none_is_installed(machine):
    machine.has("chromium", "npm", "apt-get")

    result = machine.make_test_system(free_port())

    assert machine.recorded()[:2] == ["apt-get update -qq", "apt-get install -y -qq redis-server"]
    # The stub installed nothing, so starting it fails: make says so and stops.
    assert result.returncode != 0
