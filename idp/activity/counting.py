"""Counting on the request paths, in the process: a dict under a lock, flushed in the background.

A count costs a dictionary update (about a microsecond), never a database
write or a network round trip: a daemon thread flushes the process's counts
every ACTIVITY_FLUSH_SECONDS, in one Redis pipeline when REDIS_URL is set
(idp.activity.store), straight into the hourly rows otherwise, and once
more when the process exits. `manage.py rollup_activity` moves what is in
Redis into the rows.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter

from django.conf import settings

logger = logging.getLogger(__name__)

Key = tuple[int, int, str]
"""(hour as seconds since the epoch // 3600, app id or 0, metric)."""
Person = tuple[int, int, int]
"""(hour, app id, user id)."""


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[Key] = Counter()
        self._people: set[Person] = set()
        self._flusher: threading.Thread | None = None

    def add(self, app_id: int, metric: str, user_id: int | None = None, amount: int = 1) -> None:
        hour = int(time.time()) // 3600
        with self._lock:
            self._counts[hour, app_id, metric] += amount
            if user_id is not None:
                self._people.add((hour, app_id, user_id))
        if self._flusher is None:
            self._start()

    def drain(self) -> tuple[Counter[Key], set[Person]]:
        """What was counted since the last drain, and forget it."""
        with self._lock:
            counts, people = self._counts, self._people
            self._counts, self._people = Counter(), set()
        return counts, people

    def after_fork(self) -> None:
        """In a forked worker: its parent's counts are the parent's to flush, and no thread came along."""
        self._lock = threading.Lock()
        self._counts, self._people = Counter(), set()
        self._flusher = None

    def _start(self) -> None:
        with self._lock:
            if self._flusher is not None or not settings.ACTIVITY_FLUSH_SECONDS:
                self._flusher = self._flusher or _NO_THREAD
                return
            self._flusher = threading.Thread(target=self._flush_forever, name="activity-flush", daemon=True)
            self._flusher.start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(settings.ACTIVITY_FLUSH_SECONDS)
            flush()


_NO_THREAD = threading.Thread()  # a marker: flushing is left to flush() calls and the exit
counters = Counters()
os.register_at_fork(after_in_child=counters.after_fork)


def count(app_id: int | None, metric: str, user_id: int | None = None) -> None:
    """Count one `metric` for the app (None or 0: no app known) and note the person, if any."""
    if settings.ACTIVITY_COUNTING:
        counters.add(app_id or 0, metric, user_id)


def flush() -> int:
    """Write this process's counts out now (Redis, or the database); returns how many keys were written.

    Counts that cannot be written (Redis or the database down) are put back,
    to go with the next flush, rather than lost.
    """
    from idp.activity import store

    counts, people = counters.drain()
    if not counts and not people:
        return 0
    try:
        store.write(counts, people)
    except Exception:
        logger.exception("Activity counts could not be written; kept for the next flush.")
        with counters._lock:
            counters._counts.update(counts)
            counters._people |= people
        return 0
    finally:
        if threading.current_thread() is counters._flusher:
            # The flusher's own connection: not kept open between flushes seconds apart.
            from django.db import connection

            connection.close()
    return len(counts) + len(people)


def forget() -> None:
    """Drop the counts not yet flushed (tests start from nothing)."""
    counters.drain()


atexit.register(flush)
