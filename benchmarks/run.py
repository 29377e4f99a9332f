"""`make bench`: Taskgate beside panva's oidc-provider and a bare Django view, in one run on one machine.

    python -m benchmarks.run [--duration 10] [--connections 32] [--quick]

What it does, in order:
1. Starts the production stack (granian's WSGI server, config.wsgi, one
   worker per core, DEBUG off), the ceiling (the same site under
   `uvicorn config.asgi:application`, 2 workers, as before the server
   changed: the discovery document served there is the measure of the
   machine), the database of DATABASE_URL (SQLite in .bench/ with a warning
   when unset), Redis for the cache when one answers, and the peer
   (benchmarks/peer/, oidc-provider with an equivalent client, rotating
   refresh tokens, opaque access tokens) twice: in one Node process with its
   storage in memory (its best case, which the ratios use), and on a cluster
   of as many workers sharing Redis.
2. Mints what the stateful scenarios use up (codes, refresh tokens) ahead of
   each run, then drives every scenario with wrk from a separate process on
   loopback: a warm-up, then a fixed number of connections for a fixed time.
3. Growth: `GET /api/tasks` and introspection with 10^3 and 10^6 access
   tokens in the table, and 10^2 and 10^5 tasks for the user.
4. Counts the SQL statements of one request of each path (benchmarks/statements.py).
5. Writes benchmarks/results/latest.{json,md,png} and prints the table.

DATABASE_URL names the database server and a name: on PostgreSQL the run makes
the database `<name>_run` beside it, fresh, and drops it at the end (the one
DATABASE_URL names is not touched); on SQLite it starts from a new file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from benchmarks import report
from benchmarks.seed import REDIRECT_URI
from config import serve

# DJANGO_THREADS's default in config/settings.py: the production server's threads per worker.
DEFAULT_THREADS = 2

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = BASE_DIR / ".bench"
RESULTS_DIR = BASE_DIR / "benchmarks" / "results"
PEER_DIR = BASE_DIR / "benchmarks" / "peer"
LUA = BASE_DIR / "benchmarks" / "lua" / "scenario.lua"
REDIS = ("127.0.0.1", 6379)
FORM = "Content-Type: application/x-www-form-urlencoded"


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    # The kernel may hand the same ephemeral port to two binds in a row once the first socket is closed,
    # and every server here starts only after all the ports are chosen: never give one port twice.
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


@contextmanager
def scratch_database(database_url: str) -> Iterator[str]:
    """A database made fresh for this run, and dropped after it: `<name>_run` beside DATABASE_URL's.

    A database reused from run to run measures its own history: the growth stage's 10^6 tokens leave
    their indexes bloated after they are deleted, and each later run read slower (finding 11 in
    benchmarks/README.md). The database DATABASE_URL names is not touched.
    """
    if database_url.startswith("sqlite:"):
        path = Path(urlsplit(database_url).path)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield database_url
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = f"{parts.path.lstrip('/') or 'taskgate'}_run"
    # The server's maintenance database, with the URL's user, password and host.
    admin = urlunsplit(parts._replace(path="/postgres", query=""))

    def run(statement: str) -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL(statement).format(sql.Identifier(name)))

    try:
        run("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        run("CREATE DATABASE {}")
    except psycopg.Error as error:
        raise SystemExit(f"Could not make the benchmark's database {name!r} on {parts.hostname}: {error}") from None
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        run("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 1).close()
        return True
    except OSError:
        return False


def basic(client_id: str, secret: str) -> str:
    return "Authorization: Basic " + b64encode(f"{quote(client_id)}:{quote(secret)}".encode()).decode()


@dataclass
class Scenario:
    """One request shape; `lines` names what is minted ahead ("code" or "refresh") when each request uses one up."""

    name: str
    target: str  # "ours" or "peer"
    method: str
    path: str
    headers: list[str] = field(default_factory=list)
    body: str | None = None
    lines: str | None = None


@dataclass
class Result:
    scenario: str
    target: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: dict[str, int]


class Wrk:
    def __init__(self, *, connections: int, threads: int) -> None:
        self.connections = connections
        self.threads = threads

    def run(self, base_url: str, scenario: Scenario, seconds: float, lines_file: Path | None = None) -> Result:
        with tempfile.NamedTemporaryFile(suffix=".json", dir=BENCH_DIR, delete=False) as handle:
            result_file = Path(handle.name)
        env = {
            **os.environ,
            "BENCH_METHOD": scenario.method,
            "BENCH_PATH": scenario.path,
            "BENCH_HEADERS": "\n".join(scenario.headers),
            "BENCH_THREADS": str(self.threads),
            "BENCH_RESULT": str(result_file),
        }
        if scenario.body is not None:
            env["BENCH_BODY"] = scenario.body
        if lines_file is not None:
            env["BENCH_LINES"] = str(lines_file)
        command = [
            "wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(LUA), base_url,
        ]  # fmt: skip
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0 or not result_file.exists() or not result_file.stat().st_size:
            raise SystemExit(f"wrk failed for {scenario.name}: {completed.stderr or completed.stdout}")
        figures = json.loads(result_file.read_text())
        result_file.unlink()
        kinds = {kind: figures[kind] for kind in ("connect", "read", "write", "status", "timeout") if figures[kind]}
        duration = figures["duration_us"] / 1e6
        return Result(
            scenario=scenario.name,
            target=scenario.target,
            requests=figures["requests"],
            seconds=round(duration, 2),
            rps=round(figures["requests"] / duration, 1),
            p50_ms=round(figures["p50_us"] / 1000, 2),
            p99_ms=round(figures["p99_us"] / 1000, 2),
            errors=sum(kinds.values()),
            error_kinds=kinds,
        )


class Process:
    """A server in a subprocess, its output in a log file under .bench/."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path = BASE_DIR) -> None:
        self.name = name
        self.log_path = BENCH_DIR / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_for(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.name} did not answer on {url} within {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


class Ours:
    """Taskgate on its production server, the ceiling's server, and the seed commands that fill its database."""

    def __init__(self, *, workers: int, threads: int, database_url: str) -> None:
        self.port, self.ceiling_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ceiling_url = f"http://127.0.0.1:{self.ceiling_port}"
        self.threads = threads
        key = BENCH_DIR / "signing-key.pem"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_", "IDP_"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV_FILE": "",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "OIDC_RSA_PRIVATE_KEY_FILE": str(key),
            "SITE_URL": self.url,
            "DATABASE_URL": database_url,
            # The limits are for abuse, and the benchmark is one client hammering on purpose.
            "IDP_INTROSPECTION_RATE_LIMIT": "1000000/s",
            "EMAIL_URL": "consolemail://",
        }
        if answers(*REDIS):
            self.env["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/15"
        if not key.exists():
            self.manage("create_signing_key", str(key), env={"DJANGO_DEBUG": "1", "OIDC_RSA_PRIVATE_KEY_FILE": ""})
        self.workers = workers
        self.server: Process | None = None
        self.ceiling: Process | None = None

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self._python(["manage.py", *args], env)

    def seed(self, *args: str) -> str:
        return self._python(["-m", "benchmarks.seed", *args])

    def _python(self, args: list[str], env: dict[str, str] | None = None) -> str:
        completed = subprocess.run(
            [sys.executable, *args], cwd=BASE_DIR, env={**self.env, **(env or {})}, capture_output=True, text=True
        )
        if completed.returncode != 0:
            # The exception's own message, not the traceback above it.
            lines = completed.stderr.strip().splitlines()
            exception = re.compile(r"[\w.]+(Error|Exception|ImproperlyConfigured): ")
            starts = [n for n, line in enumerate(lines) if exception.match(line)]
            message = "\n".join(lines[starts[-1] :] if starts else lines[-1:]) or "no output"
            raise SystemExit(f"{' '.join(args[:3])} failed:\n{message}")
        return completed.stdout

    def start(self) -> None:
        # The production server, as `make run` and the README's deployment section start it,
        # with the bare view added (benchmarks/wsgi.py).
        command = serve.command(
            host="127.0.0.1", port=self.port, workers=self.workers, threads=self.threads,
            app="benchmarks.wsgi:application",
        ) + ["--log-level", "warning"]  # fmt: skip
        self.server = Process("taskgate", command, {**self.env, "DJANGO_THREADS": str(self.threads)})
        # The ceiling: the same site served as before the server changed (uvicorn, 2 workers).
        ceiling = [
            sys.executable, "-m", "uvicorn", "benchmarks.asgi:application", "--host", "127.0.0.1",
            "--port", str(self.ceiling_port), "--workers", "2", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        # DJANGO_THREADS as it was then, so that the ceiling stays comparable from run to run.
        self.ceiling = Process("ceiling", ceiling, {**self.env, "SITE_URL": self.ceiling_url, "DJANGO_THREADS": "10"})
        for process, url, workers in ((self.server, self.url, self.workers), (self.ceiling, self.ceiling_url, 2)):
            process.wait_for(f"{url}/bench/bare")
            # Every worker answers before measuring: each loads Django on its first request.
            for _ in range(workers * 8):
                urllib.request.urlopen(f"{url}/bench/bare", timeout=10).read()  # noqa: S310

    def stop(self) -> None:
        for process in (self.server, self.ceiling):
            if process:
                process.stop()

    def statements(self, credentials: dict) -> dict[str, int]:
        """SQL statements of one request of each path (benchmarks/statements.py)."""
        path = BENCH_DIR / "credentials.json"
        path.write_text(json.dumps(credentials))
        try:
            return json.loads(self._python(["-m", "benchmarks.statements", str(path)]).strip().splitlines()[-1])
        finally:
            path.unlink()

    def mint(self, kind: str, count: int, path: Path) -> None:
        self.seed("codes" if kind == "code" else "refresh", str(count), str(path))

    def settle(self) -> None:
        """Autovacuum's work done now rather than during a run (benchmarks/seed.py settle)."""
        self.seed("settle")


class Peer:
    """oidc-provider (benchmarks/peer/server.mjs) and its mint server.

    `storage` "memory": one Node process keeping its state in memory, the
    peer's best case; "redis": a node cluster of `workers` sharing Redis.
    """

    def __init__(self, *, storage: str, workers: int) -> None:
        self.name = "peer" if storage == "memory" else "peer cluster"
        self.port, self.mint_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id, self.client_secret = "bench-client", secrets.token_urlsafe(32)
        self.env = {
            **os.environ,
            "NODE_ENV": "production",
            "PEER_PORT": str(self.port),
            "PEER_MINT_PORT": str(self.mint_port),
            "PEER_STORAGE": storage,
            "PEER_WORKERS": str(1 if storage == "memory" else workers),
            "PEER_CLIENT_SECRET": self.client_secret,
            "REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}",
        }
        self.server: Process | None = None

    def start(self) -> None:
        self.server = Process(self.name.replace(" ", "-"), ["node", "server.mjs"], self.env, cwd=PEER_DIR)
        self.server.wait_for(f"{self.url}/.well-known/openid-configuration")
        metadata = json.loads(urllib.request.urlopen(f"{self.url}/.well-known/openid-configuration").read())  # noqa: S310
        self.token_path = metadata["token_endpoint"].removeprefix(self.url)
        self.introspection_path = metadata["introspection_endpoint"].removeprefix(self.url)

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def _mint(self, kind: str, count: int) -> list:
        minted: list = []
        while len(minted) < count:
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.mint_port}/mint",
                data=json.dumps({"kind": kind, "count": min(20000, count - len(minted))}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
                minted.extend(json.loads(response.read()))
        return minted

    def mint(self, kind: str, count: int, path: Path) -> None:
        minted = self._mint(kind, count)
        with path.open("w") as out:
            for item in minted:
                out.write(f"{item['code']} {item['verifier']}\n" if kind == "code" else f"{item}\n")

    def access_token(self) -> str:
        return self._mint("access", 1)[0]


def scenarios(credentials: dict, peers: list[Peer]) -> list[Scenario]:
    ours_basic = basic(credentials["client_id"], credentials["client_secret"])
    api = f"Authorization: Bearer {credentials['api_token']}"
    redirect = quote(REDIRECT_URI, safe="")
    exchange = "grant_type=authorization_code&code={1}&code_verifier={2}&redirect_uri=" + redirect
    refresh = "grant_type=refresh_token&refresh_token={1}"
    mcp_call = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}
    )
    mcp_headers = [
        f"Authorization: Bearer {credentials['mcp_token']}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        "MCP-Protocol-Version: 2025-06-18",
    ]
    listed = [
        Scenario("discovery", "ceiling", "GET", "/.well-known/openid-configuration"),
        Scenario("bare view", "ours", "GET", "/bench/bare"),
        Scenario("discovery", "ours", "GET", "/.well-known/openid-configuration"),
        Scenario("refresh grant", "ours", "POST", "/idp/token", [ours_basic, FORM], refresh, lines="refresh"),
        Scenario("code exchange", "ours", "POST", "/idp/token", [ours_basic, FORM], exchange, lines="code"),
        Scenario(
            "introspection", "ours", "POST", "/idp/introspect", [ours_basic, FORM], f"token={credentials['api_token']}"
        ),
        Scenario("GET /api/tasks", "ours", "GET", "/api/tasks", [api]),
        Scenario(
            "POST /api/tasks",
            "ours",
            "POST",
            "/api/tasks",
            [api, "Content-Type: application/json"],
            json.dumps({"title": "Benchmark task", "priority": "high"}),
        ),  # fmt: skip
        Scenario("MCP list_tasks", "ours", "POST", "/mcp", mcp_headers, mcp_call),
    ]
    for peer in peers:
        peer_basic = basic(peer.client_id, peer.client_secret)
        listed += [
            Scenario("discovery", peer.name, "GET", "/.well-known/openid-configuration"),
            Scenario("refresh grant", peer.name, "POST", peer.token_path, [peer_basic, FORM], refresh, lines="refresh"),
            Scenario("code exchange", peer.name, "POST", peer.token_path, [peer_basic, FORM], exchange, lines="code"),
            Scenario(
                "introspection",
                peer.name,
                "POST",
                peer.introspection_path,
                [peer_basic, FORM],
                f"token={peer.access_token()}",
            ),  # fmt: skip
        ]
    return listed


def median(runs: list[Result]) -> Result:
    """The run of the median req/s (the upper one of an even count)."""
    return sorted(runs, key=lambda run: run.rps)[len(runs) // 2]


def measure(
    wrk: Wrk, scenario: Scenario, target, *, ours: Ours, warmup: float, duration: float, repeat: int = 1
) -> Result:
    url = ours.ceiling_url if scenario.target == "ceiling" else target.url
    """Warm-up, then `repeat` measured runs, of which the median by req/s is kept.

    One-use values (codes, refresh tokens) are minted ahead of each run,
    as many as the warm-up's rate says the run will use, and more.
    """
    ours.settle()
    warm_lines = None
    if scenario.lines:
        warm_count = 4000
        warm_lines = BENCH_DIR / f"{scenario.target}-{scenario.lines}-warm.txt"
        target.mint(scenario.lines, warm_count, warm_lines)
    warm = wrk.run(url, scenario, warmup, warm_lines)
    runs = []
    for _ in range(repeat):
        measured_lines = None
        if scenario.lines:
            # Every request the warm-up sent, the refused ones after its values ran out too (counted
            # from the values alone, the peer cluster ran out of refresh tokens and answered errors
            # for a third of the run), with more room to spare once they ran out.
            ran_out = warm.requests > warm_count
            rate = warm.requests / warm.seconds
            count = int(rate * duration * (3 if ran_out else 1.5)) + 1000
            measured_lines = BENCH_DIR / f"{scenario.target}-{scenario.lines}.txt"
            target.mint(scenario.lines, count, measured_lines)
        runs.append(wrk.run(url, scenario, duration, measured_lines))
    result = median(runs)
    errors = f", {result.errors} errors {result.error_kinds}" if result.errors else ""
    spread = f"  (runs: {', '.join(f'{run.rps:.0f}' for run in runs)})" if repeat > 1 else ""
    say(
        f"{scenario.target:<12} {scenario.name:<16} {result.rps:>8.1f} req/s  "
        f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms{errors}{spread}"
    )
    return result


def growth(wrk: Wrk, ours: Ours, *, warmup: float, duration: float, repeat: int, credentials: dict) -> list[dict]:
    """The same two requests on small and large tables; their cost ratio (1.0: no growth).

    The small state is measured first and again last, and the report takes
    the mean of the two, so that a drift of the machine during the stage
    (this one shares its cores with other virtual machines) is not read as growth.
    """
    probed = ("GET /api/tasks", "introspection")
    probes = [s for s in scenarios(credentials, []) if s.target == "ours" and s.name in probed]
    small = ("10^3 tokens, 10^2 tasks", 1_000, 100)
    states = [small, ("10^6 tokens, 10^2 tasks", 1_000_000, 100), ("10^3 tokens, 10^5 tasks", 1_000, 100_000), small]
    rows = []
    for label, tokens, tasks in states:
        ours.seed("shrink", "--tasks", str(tasks))
        say(f"growth: {label}")
        ours.seed("tokens", str(tokens))
        ours.seed("tasks", str(tasks))
        for probe in probes:
            result = measure(wrk, probe, ours, ours=ours, warmup=warmup, duration=duration, repeat=repeat)
            rows.append({"state": label, **asdict(result)})
    ours.seed("shrink", "--tasks", "100")
    return rows


def machine(database_url: str, ours: Ours) -> dict:
    def command(*args: str) -> str:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "not found"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    versions = json.loads(
        ours._python(
            [
                "-c",
                "import json, django, oauth2_provider, oauthlib, rest_framework, uvicorn, granian, mcp,"
                " importlib.metadata as m;"
                "print(json.dumps({'django': django.__version__, 'django-oauth-toolkit': oauth2_provider.__version__,"
                "'oauthlib': oauthlib.__version__, 'djangorestframework': rest_framework.__version__,"
                "'uvicorn': uvicorn.__version__, 'granian': granian.__version__, 'mcp': m.version('mcp'),"
                "'psycopg': m.version('psycopg')}))",
            ]
        )
    )
    peer_lock = PEER_DIR / "package-lock.json"
    if peer_lock.exists():
        packages = json.loads(peer_lock.read_text()).get("packages", {})
        versions["oidc-provider"] = packages.get("node_modules/oidc-provider", {}).get("version", "?")
    database = "SQLite"
    if database_url.startswith("postgres"):
        database = ours._python(
            ["-c", "import django; django.setup(); from django.db import connection; "
             "c = connection.cursor(); c.execute('SHOW server_version'); print(c.fetchone()[0])"],
        ).strip()  # fmt: skip
        database = f"PostgreSQL {database}"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": command("node", "--version"),
        "wrk": command("wrk", "-v").splitlines()[0] if shutil.which("wrk") else "not found",
        "database": database,
        "cache": "Redis" if "REDIS_URL" in ours.env else "local memory",
        **versions,
    }


def counting_cost(wrk: Wrk, ours: Ours, *, warmup: float, duration: float, repeat: int, credentials: dict) -> dict:
    """GET /api/tasks with activity counting on and off (ACTIVITY_COUNTING, the server restarted for each):
    what counting costs, as a share of the requests per second without it (issue 18: under 3%).

    The two alternate, `repeat` times each, the first of each round taking turns, and each keeps
    its median: measured all on then all off, the machine's drift over a few minutes (±20% here)
    was counted as counting's cost.
    """
    probe = next(s for s in scenarios(credentials, []) if s.target == "ours" and s.name == "GET /api/tasks")
    runs: dict[str, list[Result]] = {"on": [], "off": []}
    for round_ in range(repeat):
        order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
        for label in order:
            ours.stop()
            ours.env["ACTIVITY_COUNTING"] = "1" if label == "on" else "0"
            ours.start()
            say(f"activity counting {label}")
            runs[label].append(measure(wrk, probe, ours, ours=ours, warmup=warmup, duration=duration))
    ours.env.pop("ACTIVITY_COUNTING")
    rows = {label: asdict(median(results)) for label, results in runs.items()}
    cost = 1 - rows["on"]["rps"] / rows["off"]["rps"] if rows["off"]["rps"] else 0.0
    say(f"activity counting costs {cost:.1%} of GET /api/tasks's requests per second")
    return {**rows, "cost": cost}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Taskgate beside oidc-provider and a bare Django view.")
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per scenario (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per scenario (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per scenario; the median is kept (3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="server workers (default: one per core)")
    parser.add_argument(
        "--server-threads", type=int, default=None, help="threads per server worker (default: DJANGO_THREADS's default)"
    )
    parser.add_argument("--only", help="comma-separated scenario names to run (e.g. 'refresh grant,bare view')")
    parser.add_argument("--no-peer", action="store_true", help="skip oidc-provider")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth stage")
    parser.add_argument(
        "--no-counting-cost", action="store_true", help="skip GET /api/tasks with activity counting on and off"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR, help="where latest.{json,md,png} go")
    args = parser.parse_args(argv)
    for name in ("duration", "warmup", "repeat", "connections", "threads", "workers", "server_threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk gives each thread its connections)")

    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: `make bench` installs it (Debian: apt-get install wrk).")
    BENCH_DIR.mkdir(exist_ok=True)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        database_url = f"sqlite:///{BENCH_DIR / 'bench.sqlite3'}"
        say("WARNING: DATABASE_URL is not set; measuring on SQLite, not the production database (PostgreSQL).")
    peers = [] if args.no_peer else [Peer(storage=storage, workers=args.workers) for storage in ("memory", "redis")]
    if peers and not (PEER_DIR / "node_modules").exists():
        raise SystemExit("benchmarks/peer/node_modules is missing: `make bench` runs npm ci there.")
    if peers and not answers(*REDIS):
        raise SystemExit("The peer's cluster keeps its state in Redis, and none answers on 127.0.0.1:6379.")
    with scratch_database(database_url) as run_database:
        ours = Ours(workers=args.workers, threads=args.server_threads or DEFAULT_THREADS, database_url=run_database)

        say("migrating and seeding")
        ours.manage("migrate", "--noinput")
        credentials = json.loads(ours.seed("prepare", "--tasks", "100", "--tokens", "1000"))
        wrk = Wrk(connections=args.connections, threads=args.threads)
        results: list[Result] = []
        growth_rows: list[dict] = []
        counting: dict | None = None
        try:
            say("counting SQL statements per path")
            statements = ours.statements(credentials)
            ours.start()
            for peer in peers:
                peer.start()
            say(
                f"Taskgate on {ours.url} ({args.workers} workers x {ours.threads} threads), "
                f"ceiling on {ours.ceiling_url}, " + ", ".join(f"{peer.name} on {peer.url}" for peer in peers)
            )
            wanted = {name.strip() for name in args.only.split(",")} if args.only else None
            by_name = {peer.name: peer for peer in peers}
            for scenario in scenarios(credentials, peers):
                if wanted and scenario.name not in wanted:
                    continue
                target = by_name.get(scenario.target, ours)
                results.append(
                    measure(
                        wrk, scenario, target, ours=ours, warmup=args.warmup, duration=args.duration, repeat=args.repeat
                    )
                )
            if not args.no_counting_cost and (not wanted or "GET /api/tasks" in wanted):
                counting = counting_cost(
                    wrk, ours, warmup=args.warmup, duration=args.duration, repeat=args.repeat, credentials=credentials
                )
            if not args.no_growth:
                growth_rows = growth(
                    wrk, ours, warmup=args.warmup, duration=args.duration, repeat=args.repeat, credentials=credentials
                )
            info = machine(database_url, ours)
        finally:
            ours.stop()
            for peer in peers:
                peer.stop()
        run = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "settings": {
                "duration_s": args.duration,
                "repeat": args.repeat,
                "warmup_s": args.warmup,
                "connections": args.connections,
                "wrk_threads": args.threads,
                "workers": args.workers,
                "server_threads": ours.threads,
                "server": "granian --interface wsgi config.wsgi:application",
                "ceiling_server": "uvicorn config.asgi:application --workers 2",
            },
            "statements": statements,
            "machine": info,
            "results": [asdict(result) for result in results],
            "growth": growth_rows,
            "counting": counting,
        }
    report.write(run, args.output)
    print(report.markdown(run))


if __name__ == "__main__":
    main()
