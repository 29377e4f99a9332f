"""Fixed-window rate limits kept in Django's cache (settings.CACHES).

With the default per-process cache each worker counts on its own; set
CACHE_URL to a shared cache so that the limit holds across workers.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from http import HTTPStatus

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, JsonResponse

from config.cache import redis_client

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateLimit:
    """At most `count` attempts per `seconds`, counted per key (such as a client address)."""

    name: str
    count: int
    seconds: int

    @classmethod
    def parse(cls, name: str, rate: str) -> RateLimit:
        """`20/h` is 20 attempts an hour; the period is one of s, m, h, d."""
        count, _, period = rate.partition("/")
        return cls(name=name, count=int(count), seconds=PERIODS[period])

    def _window(self, key: str) -> tuple[float, int, str]:
        now = time.time()
        window = int(now // self.seconds)
        # Hashed: a key may hold a client_id of the caller's choosing, of any length.
        digest = hashlib.sha256(key.encode()).hexdigest()
        return now, window, f"ratelimit:{self.name}:{window}:{digest}"

    def exceeded_any(self, keys: list[str]) -> int | None:
        """Without counting, in one cache round trip: the longest wait of the keys already over
        the limit, else None. For limits on failures, which are counted only once a request failed."""
        windows = [self._window(key) for key in keys]
        counts = _read([cache_key for _, _, cache_key in windows])
        waits = [
            max(1, int((window + 1) * self.seconds - now))
            for (now, window, _), attempts in zip(windows, counts, strict=True)
            if attempts >= self.count
        ]
        return max(waits, default=None)

    def hit(self, key: str) -> int | None:
        """Count one attempt; return the seconds to wait when it is over the limit, else None."""
        return self.hit_all([key])

    def hit_all(self, keys: list[str]) -> int | None:
        """Count one attempt under each key (an address, a client), in one cache round trip;
        return the longest wait of those over the limit, else None."""
        windows = [self._window(key) for key in keys]
        counts = _count([cache_key for _, _, cache_key in windows], self.seconds)
        waits = [
            max(1, int((window + 1) * self.seconds - now))
            for (now, window, _), attempts in zip(windows, counts, strict=True)
            if attempts > self.count
        ]
        return max(waits, default=None)


def _redis_keys(cache_keys: list[str]):
    """On Redis: this process's client of the server Django's RedisCache writes to, and the keys as
    Django makes them (so that cache.get() reads them too); else None. Django's own calls build a
    client object each time: on the token endpoint's every request, that was 7% of a refresh."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    # The first server of its LOCATION (a list, or split at , or ;).
    location = settings.CACHES["default"]["LOCATION"]
    server = re.split("[;,]", location)[0] if isinstance(location, str) else location[0]
    return redis_client(server), [backend.make_and_validate_key(cache_key) for cache_key in cache_keys]


def _read(cache_keys: list[str]) -> list[int]:
    """Each window's counter (0 where there is none), in one round trip."""
    found = _redis_keys(cache_keys)
    if found is None:
        counts = cache.get_many(cache_keys)
        return [counts.get(cache_key) or 0 for cache_key in cache_keys]
    client, keys = found
    # Counters are made by _count's INCR: plain integers, as Django's RedisSerializer reads them.
    return [int(value) if value is not None else 0 for value in client.mget(keys)]


def _count(cache_keys: list[str], seconds: int) -> list[int]:
    """Add one to each window's counter, made with a lifetime of `seconds`; return the new counts.

    On Redis one round trip for all of them (SET NX EX, then INCR, pipelined):
    Django's add() and incr() would take three a key (its incr() checks
    EXISTS first). The keys are Django's, so cache.get() reads them.
    """
    found = _redis_keys(cache_keys)
    if found is not None:
        client, keys = found
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, 0, ex=seconds, nx=True)
            pipe.incr(key)
        return pipe.execute()[1::2]
    counts = []
    for cache_key in cache_keys:
        cache.add(cache_key, 0, timeout=seconds)
        try:
            counts.append(cache.incr(cache_key))
        except ValueError:  # the window's counter expired between add and incr
            cache.set(cache_key, 1, timeout=seconds)
            counts.append(1)
    return counts


def client_address(request: HttpRequest) -> str:
    """The address a request came from, as the server saw it (no proxy headers are trusted)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def too_many_requests(retry_after: int, description: str) -> JsonResponse:
    """RFC 6585 §4: 429 with Retry-After, as a JSON error body."""
    return JsonResponse(
        {"error": "too_many_requests", "error_description": description},
        status=HTTPStatus.TOO_MANY_REQUESTS,
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )
