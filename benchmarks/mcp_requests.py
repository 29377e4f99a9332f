"""Latency of /mcp requests over real HTTP: tools/list and tools/call, each on a fresh connection.

Not part of `make test`. Against a running server (e.g. `python -m config.serve --workers 2`):

    python benchmarks/mcp_requests.py --url http://127.0.0.1:8000/mcp --token <access token for /mcp> -n 200

Make a token with `python manage.py shell` and tests.fixtures.issue_access_token(..., resource=[SITE_URL + "/mcp"]).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

MESSAGES = {
    "tools/list": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    "list_tasks": {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "list_tasks", "arguments": {"limit": 25}},
    },
    "create_task": {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "create_task", "arguments": {"title": "Benchmark task"}},
    },
}


def one(url, token: str, message: dict) -> float:
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    started = time.perf_counter()
    connection.request(
        "POST",
        url.path,
        json.dumps(message),
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        },
    )
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 200 or json.loads(body).get("result", {}).get("isError"):
        raise SystemExit(f"{message['method']}: {response.status} {body[:300]!r}")
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    options = parser.parse_args()
    url = urlsplit(options.url)
    for name, message in MESSAGES.items():
        one(url, options.token, message)  # warm up
        started = time.perf_counter()
        with ThreadPoolExecutor(options.concurrency) as pool:
            timings = sorted(pool.map(one, [url] * options.n, [options.token] * options.n, [message] * options.n))
        wall = time.perf_counter() - started
        print(
            f"{name:12} n={options.n} concurrency={options.concurrency}: "
            f"median {statistics.median(timings):.1f} ms, p95 {timings[int(len(timings) * 0.95) - 1]:.1f} ms, "
            f"{options.n / wall:.0f} requests/s"
        )


if __name__ == "__main__":
    main()
