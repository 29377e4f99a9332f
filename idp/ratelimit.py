"""Fixed-window rate limits kept in Django's cache (settings.CACHES).

With the default per-process cache each worker counts on its own; set
CACHE_URL to a shared cache so that the limit holds across workers.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from http import HTTPStatus

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, JsonResponse

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

    def exceeded(self, key: str) -> int | None:
        """Without counting: the seconds to wait when `key` is already over the limit, else None.

        For limits on failures, which are counted only once a request failed.
        """
        now, window, cache_key = self._window(key)
        if (cache.get(cache_key) or 0) < self.count:
            return None
        return max(1, int((window + 1) * self.seconds - now))

    def hit(self, key: str) -> int | None:
        """Count one attempt; return the seconds to wait when it is over the limit, else None."""
        now, window, cache_key = self._window(key)
        attempts = _count(cache_key, self.seconds)
        if attempts <= self.count:
            return None
        return max(1, int((window + 1) * self.seconds - now))


def _count(cache_key: str, seconds: int) -> int:
    """Add one to the window's counter, made with a lifetime of `seconds`; return the new count.

    On Redis one round trip (SET NX EX, then INCR, pipelined): Django's
    add() and incr() would take three (its incr() checks EXISTS first),
    which made a third of an introspection request's time
    (benchmarks/README.md). The key is Django's, so cache.get() reads it.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        key = backend.make_and_validate_key(cache_key)
        # RedisCache._cache is its redis-py client factory (Django 4.0+), the one its own methods use.
        pipe = backend._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.set(key, 0, ex=seconds, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]
    cache.add(cache_key, 0, timeout=seconds)
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's counter expired between add and incr
        cache.set(cache_key, 1, timeout=seconds)
        return 1


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
