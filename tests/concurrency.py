"""Many requests at the same instant, for the race and load tests."""

from __future__ import annotations

import threading

import requests


def fire(count: int, send) -> list[requests.Response]:
    """`count` threads that wait for each other, then send at once."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = send()
        except requests.RequestException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
