"""`python -m config.serve`, the production server's command: its arguments, and one sentence for a bad one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.serve import address_of, command

BASE_DIR = Path(__file__).resolve().parent.parent


def serve(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.run(
        [sys.executable, "-m", "config.serve", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_server_is_granians_wsgi_server_with_django_threads_per_worker():
    argv = command(host="127.0.0.1", port=8000, workers=4, threads=2)

    assert argv[1:6] == ["-m", "granian", "--interface", "wsgi", "config.wsgi:application"]
    assert argv[argv.index("--workers") + 1] == "4"
    assert argv[argv.index("--blocking-threads") + 1] == "2"


def test_a_host_name_is_served_on_its_address():
    assert address_of("localhost") in ("127.0.0.1", "::1")
    assert address_of("0.0.0.0") == "0.0.0.0"  # noqa: S104 - what is parsed, not what is served


@pytest.mark.parametrize(
    ("args", "env", "sentence"),
    [
        (["--workers", "0"], {}, "--workers must be at least 1"),
        (["--port", "70000"], {}, "--port must be from 1 to 65535"),
        (["--host", "no.such.host.invalid"], {}, "--host must be an IP address or a name that resolves to one"),
        ([], {"DJANGO_THREADS": "many"}, "Taskgate cannot start: DJANGO_THREADS must be a whole number of at least 1"),
    ],
    ids=["workers", "port", "host", "threads"],
)
def test_a_bad_argument_or_variable_stops_the_server_with_a_sentence(args, env, sentence):
    result = serve(*args, **env)

    assert result.returncode != 0
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr
