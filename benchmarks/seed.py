"""The benchmark's data in Taskgate's database, made the way the token endpoint would make it.

Run by benchmarks/run.py in a subprocess with DJANGO_SETTINGS_MODULE=config.settings:

    python -m benchmarks.seed prepare --tasks 100 --tokens 1000     # JSON: client, tokens
    python -m benchmarks.seed codes 20000 codes.txt                 # "code verifier" lines
    python -m benchmarks.seed refresh 20000 refresh.txt             # one refresh token a line
    python -m benchmarks.seed tokens 1000000                        # access tokens in the table, in all
    python -m benchmarks.seed tasks 100000                          # the bench user's tasks, in all
    python -m benchmarks.seed shrink --tasks 100                    # what `tokens` and `tasks` added goes
    python -m benchmarks.seed settle                                # VACUUM ANALYZE (PostgreSQL)
    python -m benchmarks.seed clean                                 # everything the benchmark made

Everything belongs to one user and one app that only the benchmark uses, so
it never touches other data, and `clean` removes it all.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import uuid
from datetime import timedelta
from pathlib import Path

BENCH_EMAIL = "bench@taskgate.invalid"
BENCH_APP = "Benchmark client"
REDIRECT_URI = "https://client.example.com/callback"
# Scopes of codes and refresh tokens: the same as the peer's (openid for an ID token).
SCOPE = "openid tasks:read"
BATCH = 5000
# How the growth stage's access tokens are told from real ones (see grow_tokens).
GROWTH_MARK = "g%"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _bench_objects():
    from accounts.models import User
    from idp.models import Application

    return User.objects.get(email=BENCH_EMAIL), Application.objects.get(name=BENCH_APP)


def prepare(tasks: int, tokens: int) -> dict:
    """Make the bench user and app afresh; return the credentials and two long-lived access tokens."""
    from django.conf import settings
    from django.db import transaction

    from accounts.models import User
    from idp.services.apps import application_create

    clean()
    with transaction.atomic():
        user = User.objects.create_user(
            username="bench", email=BENCH_EMAIL, password=None, email_verified=True, first_name="Bench"
        )
        issued = application_create(
            name=BENCH_APP, redirect_uris=[REDIRECT_URI], scopes=["openid", "profile", "email", *settings.TASK_SCOPES]
        )
    api_token = _access_token(user, issued.application, "tasks:read tasks:write", [])
    mcp_token = _access_token(user, issued.application, "tasks:read tasks:write", [settings.MCP_RESOURCE_URL])
    grow_tasks(tasks)
    grow_tokens(tokens)
    return {
        "client_id": issued.application.client_id,
        "client_secret": issued.client_secret,
        "api_token": api_token,
        "mcp_token": mcp_token,
    }


def _access_token(user, application, scope: str, resource: list[str]) -> str:
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, set_token_value

    raw = secrets.token_urlsafe(30)
    token = get_access_token_model()(
        user=user, application=application, scope=scope, resource=resource, expires=timezone.now() + timedelta(days=1)
    )
    set_token_value(token, raw)
    token.save()
    return raw


def mint_codes(count: int, path: Path) -> None:
    """Authorization codes with an S256 challenge, as the consent page leaves them; "code verifier" a line."""
    import base64
    import hashlib

    from django.utils import timezone
    from oauth2_provider.models import get_grant_model

    user, application = _bench_objects()
    Grant = get_grant_model()
    expires = timezone.now() + timedelta(hours=1)
    with path.open("w") as out:
        for start in range(0, count, BATCH):
            rows, lines = [], []
            for _ in range(min(BATCH, count - start)):
                code, verifier = secrets.token_urlsafe(30), secrets.token_urlsafe(48)
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                rows.append(
                    Grant(
                        user=user,
                        application=application,
                        code=code,
                        expires=expires,
                        redirect_uri=REDIRECT_URI,
                        scope=SCOPE,
                        code_challenge=challenge,
                        code_challenge_method="S256",
                    )
                )
                lines.append(f"{code} {verifier}\n")
            Grant.objects.bulk_create(rows)
            out.writelines(lines)


def mint_refresh_tokens(count: int, path: Path) -> None:
    """Access and refresh token pairs, each the start of its own family; one refresh token a line."""
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model, set_token_value

    user, application = _bench_objects()
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    expires = timezone.now() + timedelta(hours=1)
    with path.open("w") as out:
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            access = []
            for _ in range(size):
                token = AccessToken(user=user, application=application, scope=SCOPE, expires=expires)
                set_token_value(token, secrets.token_urlsafe(30))
                access.append(token)
            AccessToken.objects.bulk_create(access)  # ids come back on PostgreSQL and SQLite
            refresh, lines = [], []
            for token in access:
                raw = secrets.token_urlsafe(30)
                row = RefreshToken(user=user, application=application, access_token=token, token_family=uuid.uuid4())
                set_token_value(row, raw)
                refresh.append(row)
                lines.append(raw + "\n")
            RefreshToken.objects.bulk_create(refresh)
            out.writelines(lines)


def grow_tokens(total: int) -> int:
    """Fill the access token table up to `total` rows, adding unexpired tokens of the bench app."""
    from django.db import connection
    from oauth2_provider.models import get_access_token_model

    user, application = _bench_objects()
    AccessToken = get_access_token_model()
    missing = total - AccessToken.objects.count()
    if missing <= 0:
        return 0
    table = AccessToken._meta.db_table
    start = AccessToken.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # One INSERT ... SELECT over a generated series: a million rows in seconds, not minutes.
    # The checksums are unique 64-character strings that no real token hashes to:
    # "g" and digits, where a real one is hexadecimal (GROWTH_MARK finds them).
    if connection.vendor == "postgresql":
        # Typed: with server-side binding a small integer is sent as smallint, for which
        # generate_series has two candidates.
        series = "SELECT g FROM generate_series(%s::bigint, %s::bigint) AS g"
        checksum = "'g' || lpad(g::text, 63, '0')"
        expires = "now() + interval '1 day'"
        now = "now()"
    else:
        series = "WITH RECURSIVE s(g) AS (SELECT %s UNION ALL SELECT g + 1 FROM s WHERE g < %s) SELECT g FROM s"
        checksum = "'g' || printf('%%063d', g)"
        expires = "datetime('now', '+1 day')"
        now = "datetime('now')"
    columns = "user_id, token, token_checksum, application_id, expires, scope, resource, created, updated"
    sql = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608 - no input: names from the model, values as parameters
        f"SELECT %s, '', {checksum}, %s, {expires}, 'tasks:read', '[]', {now}, {now} FROM ({series}) AS series"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, application.pk, start + 1, start + missing])
    settle()
    return missing


def grow_tasks(total: int) -> int:
    """Give the bench user `total` tasks in all."""

    from tasks.models import Task

    user, _ = _bench_objects()
    have = Task.objects.filter(owner=user).count()
    for start in range(have, total, BATCH):
        Task.objects.bulk_create(
            Task(owner=user, title=f"Benchmark task {number}", notes="Made by benchmarks/seed.py.")
            for number in range(start, min(start + BATCH, total))
        )
    if total > have:
        settle()
    return max(0, total - have)


def _drop_growth_tokens() -> None:
    """One DELETE: nothing refers to these rows, and the ORM would fetch a million of them first."""
    from django.db import connection
    from oauth2_provider.models import get_access_token_model

    table = get_access_token_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE token_checksum LIKE %s", [GROWTH_MARK])  # noqa: S608


def shrink(tasks: int) -> None:
    """Drop what the growth stage added: its access tokens and the tasks beyond the first `tasks`."""
    from tasks.models import Task

    user, _ = _bench_objects()
    _drop_growth_tokens()
    kept = Task.objects.filter(owner=user).order_by("id").values_list("id", flat=True)[tasks - 1 : tasks]
    if tasks and kept:
        Task.objects.filter(owner=user, id__gt=kept[0]).delete()
    elif not tasks:
        Task.objects.filter(owner=user).delete()
    settle()


def settle() -> None:
    """On PostgreSQL, VACUUM ANALYZE the tables the benchmark churns, as autovacuum does in time.

    Run before each scenario: otherwise autovacuum wakes up during one (after
    a bulk insert, or the rows a refresh scenario deleted) and takes a share
    of the two cores: one run of introspection fell from 103 to 74 req/s that
    way, with nothing changed in its tables.
    """
    from django.apps import apps
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    models = ("tasks.Task", "oauth2_provider.AccessToken", "oauth2_provider.RefreshToken", "oauth2_provider.Grant",
              "oauth2_provider.IDToken", "idp.RedeemedCode", "idp.AuditEvent")  # fmt: skip
    tables = ", ".join(apps.get_model(label)._meta.db_table for label in models)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {tables}")


def clean() -> None:
    """Remove the bench user and app and everything hanging off them (tokens, codes, tasks)."""
    from accounts.models import User
    from idp.models import Application
    from tasks.models import Task

    _drop_growth_tokens()
    Task.objects.filter(owner__email=BENCH_EMAIL).delete()
    Application.objects.filter(name=BENCH_APP).delete()
    User.objects.filter(email=BENCH_EMAIL).delete()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare")
    prepare_parser.add_argument("--tasks", type=int, default=100)
    prepare_parser.add_argument("--tokens", type=int, default=1000)
    for name in ("codes", "refresh"):
        sub = commands.add_parser(name)
        sub.add_argument("count", type=int)
        sub.add_argument("path", type=Path)
    for name in ("tokens", "tasks"):
        commands.add_parser(name).add_argument("total", type=int)
    commands.add_parser("shrink").add_argument("--tasks", type=int, required=True)
    commands.add_parser("clean")
    commands.add_parser("settle")
    args = parser.parse_args(argv)

    _setup()
    if args.command == "prepare":
        print(json.dumps(prepare(args.tasks, args.tokens)))
    elif args.command == "codes":
        mint_codes(args.count, args.path)
    elif args.command == "refresh":
        mint_refresh_tokens(args.count, args.path)
    elif args.command == "tokens":
        grow_tokens(args.total)
    elif args.command == "tasks":
        grow_tasks(args.total)
    elif args.command == "shrink":
        shrink(args.tasks)
    elif args.command == "settle":
        settle()
    else:
        clean()


if __name__ == "__main__":
    main(sys.argv[1:])
