"""The verified-token cache: each process keeps the answer for a token it checked, until anything ends it.

Revocation must not be outrun, so an answer is served from here only while
this process is told of every change that could end a token:

- PostgreSQL tells it. Triggers (migration idp 0008) on the access token,
  user, application and consent tables call `pg_notify` after an UPDATE,
  DELETE or TRUNCATE, and one connection per process LISTENs in a daemon
  thread. A notice is sent when the change commits, whoever made it: our
  services, DOT's revocation and refresh rotation, the admin, a cascade, a
  shell, a raw query, `clear_expired`. Redis pub/sub would see only the
  writes that our code remembers to publish, after their commit, and would
  add a second service on which revocation depends (benchmarks/README.md).
- Fail closed. Until the LISTEN is in place, after its connection fails,
  and when the thread has not been heard from for a while, nothing is
  served from here or stored; after a (re)connection the cache starts empty,
  since notices sent meanwhile are lost.
- The race. A request that misses takes the sequence number before it reads
  the database and stores its answer only if no notice (and no reconnection)
  came since: a read made just before a revocation committed is never stored
  after that revocation's notice was handled.
- An entry also expires by itself after IDP_TOKEN_CACHE_SECONDS, and never
  outlives its token (bearer_verify checks the expiry on every use).

Off on SQLite and when IDP_TOKEN_CACHE_SECONDS is 0: every check then reads
the database. The pytest process never listens (only server processes call
`listen`), so in-process tests always read the database.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from django.conf import settings
from django.db import connections

if TYPE_CHECKING:
    from collections.abc import Iterable

    from idp.bearer import Grant


@runtime_checkable
class Ended(Protocol):
    def ended_by(self) -> Iterable[tuple[str, int]]:
        """The notices (kind, id) that end this value: ("t", token id), ("u", person id), ("a", app id)."""


log = logging.getLogger(__name__)

CHANNEL = "taskgate_token_cache"
# How often the listening connection proves it still works; a thread silent
# for three times this is taken as deaf, and the cache stops serving.
HEARTBEAT_SECONDS = 5.0
RECONNECT_SECONDS = 1.0
# Beyond this, new answers are not stored (a bound on memory, not on correctness).
MAX_ENTRIES = 100_000


class VerifiedTokenCache:
    """Answers by token checksum (and applications by `app:` client_id), served only while `live`;
    every change bumps `sequence`.

    Entries are indexed by token, person and app, so that a notice (one per
    refresh, under load) costs a few dictionary operations, not a scan.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (value, stale at, the (kind, id) pairs of the notices that drop it)
        self._entries: dict[str, tuple[object, float, tuple[tuple[str, int], ...]]] = {}
        # notice kind ("t", "u", "a") -> id -> the keys of the entries with that id
        self._index: dict[str, dict[int, set[str]]] = {"t": {}, "u": {}, "a": {}}
        self._sequence = 0
        self._live = False
        self._heard_until = 0.0

    def serving(self) -> bool:
        """Listening, and heard from lately."""
        return self._live and time.monotonic() < self._heard_until

    def get(self, key: str):
        if not self.serving():
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, stale_at, _ = entry
        if time.monotonic() >= stale_at:
            with self._lock:
                self._drop(key)
            return None
        return value

    def sequence(self) -> int:
        return self._sequence

    def put(self, key: str, value: Grant | object, *, sequence: int, ended_by: Iterable[tuple[str, int]] = ()) -> bool:
        """Keep `value`, read after `sequence()` returned `sequence`, unless anything changed since.

        It is dropped by the notices `ended_by` names (("a", 3): any change to app 3);
        a Grant names its own (Grant.ended_by: its token, person and app).
        """
        ids = tuple(value.ended_by() if isinstance(value, Ended) else ended_by)
        lifetime = settings.IDP_TOKEN_CACHE_SECONDS
        with self._lock:
            if sequence != self._sequence or not self.serving() or not lifetime:
                return False
            if len(self._entries) >= MAX_ENTRIES and key not in self._entries:
                return False
            self._drop(key)
            self._entries[key] = (value, time.monotonic() + lifetime, ids)
            for kind, named in ids:
                self._index[kind].setdefault(named, set()).add(key)
            return True

    def go_live(self, *, heard_for: float = 3 * HEARTBEAT_SECONDS) -> None:
        """Called once the LISTEN is in place: what was kept before may have missed notices."""
        with self._lock:
            self._clear()
            self._sequence += 1
            self._live = True
            self._heard_until = time.monotonic() + heard_for

    def heard(self, *, heard_for: float = 3 * HEARTBEAT_SECONDS) -> None:
        """The listener is alive: serve for `heard_for` more seconds unless it is heard from again."""
        self._heard_until = time.monotonic() + heard_for

    def go_dark(self) -> None:
        with self._lock:
            self._live = False
            self._clear()
            self._sequence += 1

    def forget(self, notice: str) -> None:
        """Drop what a notice names: `t:<ids>` access tokens, `u:<ids>` users, `a:<ids>` apps; `*` everything.

        A notice this code cannot read empties the cache: dropping is always safe.
        """
        kind, _, ids = notice.partition(":")
        try:
            wanted = {int(value) for value in ids.split(",") if value}
        except ValueError:
            kind = "*"
        with self._lock:
            self._sequence += 1
            if kind not in self._index:
                self._clear()
                return
            for value in wanted:
                for key in list(self._index[kind].get(value, ())):
                    self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for kind, value in entry[2]:
            keys = self._index[kind].get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[kind][value]

    def _clear(self) -> None:
        self._entries.clear()
        for index in self._index.values():
            index.clear()

    def __len__(self) -> int:
        return len(self._entries)


cache = VerifiedTokenCache()
# A forked child has no listening thread: its copy of the cache must not serve.
os.register_at_fork(after_in_child=cache.go_dark)

_listener: threading.Thread | None = None
_listener_pid: int | None = None


def listen() -> bool:
    """Start this process's listening thread, once (server processes call it at start-up).

    Returns whether the cache can be on here: PostgreSQL, and IDP_TOKEN_CACHE_SECONDS above 0.
    """
    global _listener, _listener_pid
    if not settings.IDP_TOKEN_CACHE_SECONDS or connections["default"].vendor != "postgresql":
        return False
    if _listener is not None and _listener_pid == os.getpid() and _listener.is_alive():
        return True
    _listener_pid = os.getpid()
    _listener = threading.Thread(target=_listen_forever, name="token-cache-listener", daemon=True)
    _listener.start()
    return True


def _connection_params(application_name: str = "taskgate token cache") -> dict:
    """The default database's connection, on its own: not from the pool, in autocommit."""
    database = connections["default"].settings_dict
    options = {
        key: value
        for key, value in (database.get("OPTIONS") or {}).items()
        if key not in ("pool", "isolation_level", "server_side_binding", "assume_role")
    }
    params = {
        "dbname": database.get("NAME") or "postgres",
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": str(database.get("PORT") or "") or None,
        "application_name": application_name,
        **options,
    }
    return {key: value for key, value in params.items() if value is not None}


def _listen_forever(
    target: VerifiedTokenCache = cache,
    stop: threading.Event | None = None,
    application_name: str = "taskgate token cache",
) -> None:
    """Keep `target` told of every notice, reconnecting after a failure (a process's daemon thread;
    tests give their own cache, a `stop` and a name to find the connection by)."""
    import psycopg

    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            with psycopg.connect(**_connection_params(application_name), autocommit=True) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                target.go_live()
                while not stop.is_set():
                    for notice in connection.notifies(timeout=HEARTBEAT_SECONDS):
                        target.forget(notice.payload)
                        target.heard()
                    connection.execute("SELECT 1")
                    target.heard()
        except Exception:
            log.warning(
                "Token cache: lost the database's notices; checking every token in the database.", exc_info=True
            )
        target.go_dark()
        if not stop.is_set():
            time.sleep(RECONNECT_SECONDS)
