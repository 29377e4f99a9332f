"""Taskgate's settings plus one URL: the bare view that the benchmark measures as its ceiling.

Nothing else changes: the same middleware, database, cache and server stack.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
