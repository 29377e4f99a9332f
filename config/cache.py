"""One Redis connection pool per process, whatever the request's context.

Django keeps its cache backends in a context-local (asgiref's Local), and
each backend makes its own redis-py client and pools. A server that runs a
request in a fresh context (a2wsgi under uvicorn copies one per request; the
MCP SDK's tools run in new threads) therefore got a new pool, and a new TCP
connection to Redis, on almost every request. `pool_class` is the
documented OPTIONS hook of Django's RedisCache for the pool; this one hands
every backend of the process the same pool for the same URL and options.
redis-py's pools are thread-safe, and reset themselves in a forked child.
"""

from __future__ import annotations

import threading

import redis

_pools: dict[tuple, redis.ConnectionPool] = {}
_lock = threading.Lock()
# Django tags each client it makes with a fresh driver-info object; it names
# the library, not the connection, so it plays no part in telling pools apart.
_NOT_PART_OF_THE_KEY = frozenset({"driver_info", "lib_name", "lib_version"})


class ProcessConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        options = sorted((name, repr(value)) for name, value in kwargs.items() if name not in _NOT_PART_OF_THE_KEY)
        key = (url, tuple(options))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
            return pool


_clients: dict[str, redis.Redis] = {}


def redis_client(location: str) -> redis.Redis:
    """A redis-py client of this process for `location`, over the process's pool.

    For our own Redis commands on the cache's server (idp.ratelimit's
    pipeline): Django's RedisCache builds a client object on every call, and
    offers none to borrow but through a private attribute.
    """
    client = _clients.get(location)
    if client is None:
        pool = ProcessConnectionPool.from_url(location)
        with _lock:
            client = _clients.setdefault(location, redis.Redis(connection_pool=pool))
    return client
