"""The token endpoint in one process: SQL statements and time per code exchange and per refresh.

Not part of `make test`. Runs Django's test client against a throwaway test
database (`test_<name>` of DATABASE_URL, or SQLite in a temporary directory),
outside any test transaction, so that the statements counted are the ones a
served request makes:

    uv run --group bench python -m benchmarks.token_endpoint -n 300
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/taskgate_bench \
        uv run --group bench python -m benchmarks.token_endpoint
    uv run --group bench python -m benchmarks.token_endpoint --profile refresh   # pyinstrument's tree of one grant

Each refresh presents the refresh token the previous one returned, as a client does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REDIRECT_URI = "https://client.example.com/callback"
SCOPE = "openid tasks:read"


def _environment(workdir: Path) -> None:
    from idp.keys import write_rsa_key

    write_rsa_key(str(workdir / "signing-key.pem"))
    os.environ.update(
        {
            "DJANGO_ENV_FILE": "",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "OIDC_RSA_PRIVATE_KEY_FILE": str(workdir / "signing-key.pem"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'token-endpoint.sqlite3'}")


def _codes(user, application, count: int) -> list[tuple[str, str]]:
    from django.utils import timezone
    from oauth2_provider.models import get_grant_model

    codes = []
    for _ in range(count):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        code = secrets.token_urlsafe(30)
        get_grant_model().objects.create(
            user=user,
            application=application,
            code=code,
            expires=timezone.now() + timedelta(minutes=10),
            redirect_uri=REDIRECT_URI,
            scope=SCOPE,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        codes.append((code, verifier))
    return codes


def measure(count: int, profile: str | None) -> dict[str, dict[str, float]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from idp.services.apps import application_create

    user = User.objects.create_user(username="bench", email="bench@taskgate.invalid", password=None)
    issued = application_create(name="Token endpoint benchmark", redirect_uris=[REDIRECT_URI], scopes=SCOPE.split())
    auth = "Basic " + base64.b64encode(f"{issued.client_id}:{issued.client_secret}".encode()).decode()
    client = Client(HTTP_AUTHORIZATION=auth)
    codes = _codes(user, issued.application, count)
    refresh_token = None
    results: dict[str, dict[str, list[float]]] = {}

    def send(grant: str, data: dict) -> dict:
        connection.queries_log.clear()  # it keeps the last 9,000 only, which the counts must not cross
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.post("/idp/token", data)
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{grant}: {response.status_code} {response.content[:300]!r}")
        figures = results.setdefault(grant, {"ms": [], "statements": []})
        figures["ms"].append(elapsed * 1000)
        figures["statements"].append(len(queries))
        if os.environ.get("TOKEN_BENCH_SHOW_SQL") and len(figures["ms"]) == 10:
            print(grant, *(query["sql"][:110] for query in queries), sep="\n    ")
        return response.json()

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    for index, (code, verifier) in enumerate(codes):
        if profiler is not None and index == count // 5:
            profiler.start()  # after the warm-up
        if profile in (None, "exchange") or refresh_token is None:
            data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
            refresh_token = send("exchange", {**data, "code_verifier": verifier})["refresh_token"]
        if profile in (None, "refresh"):
            refresh_token = send("refresh", {"grant_type": "refresh_token", "refresh_token": refresh_token})[
                "refresh_token"
            ]
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("TOKEN_BENCH_SHOW_ALL"))))
    warm = count // 5
    return {
        grant: {
            "median ms": statistics.median(figures["ms"][warm:]),
            "statements (min)": min(figures["statements"][warm:]),
            "statements (max)": max(figures["statements"]),
        }
        for grant, figures in results.items()
        if len(figures["ms"]) > warm  # not the one exchange that starts the refreshes of --profile refresh
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="codes exchanged and refreshes made (default 200)")
    parser.add_argument("--profile", choices=["exchange", "refresh"], help="print pyinstrument's profile of one grant")
    args = parser.parse_args()
    if args.n < 5:
        parser.error("-n must be at least 5")
    with tempfile.TemporaryDirectory(prefix="taskgate-token-bench-") as workdir:
        _environment(Path(workdir))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import setup_test_environment

        setup_test_environment()
        if connection.vendor == "sqlite":
            # A file, as served (the test database is in memory otherwise).
            settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(Path(workdir) / "test.sqlite3")
        settings.ALLOWED_HOSTS = ["testserver"]
        call_command("collectstatic", "--noinput", verbosity=0)
        name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            print(f"{connection.vendor} ({name}), {args.n} requests of each grant, the first fifth as warm-up:")
            for grant, figures in measure(args.n, args.profile).items():
                print(f"  {grant:9} " + ", ".join(f"{key} {value:.1f}" for key, value in figures.items()))
        finally:
            from idp import activity

            activity.forget()  # counted in a database about to go: not flushed at exit
            connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
