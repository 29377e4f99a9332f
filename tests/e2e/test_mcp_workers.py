"""/mcp keeps no session in a process: a server with 2 workers answers one client's
consecutive requests correctly whichever worker each lands on.

Each request goes on a fresh connection. Which worker accepted it is read from
the operating system (/proc: the worker process that holds the server end of
the connection), so the server needs no debug header to show it.
"""

from __future__ import annotations

import http.client
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures import issue_access_token
from tests.live import LiveServer

pytestmark = pytest.mark.live

SESSIONS = 12


@pytest.fixture(scope="module")
def two_workers(django_db_setup, django_db_blocker, workdir):
    log = workdir / "live-server-workers.log"
    log.unlink(missing_ok=True)
    with django_db_blocker.unblock():
        server = LiveServer(workers=2, log_path=log).start()
    # start() returns once one worker answers; wait for the other too.
    server.wait_for_workers()
    yield server
    server.stop()


def worker_pids(parent: int) -> set[int]:
    """The server's worker processes: its children (not multiprocessing's resource tracker)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"resource_tracker" not in command:
                pids.add(int(entry.name))
    return pids


def server_end_owner(server_port: int, client_port: int, pids: set[int]) -> int | None:
    """The process holding the server end of the connection 127.0.0.1:client_port -> :server_port."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    inodes = {
        fields[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[1] == local and fields[2] == remote
    }
    sockets = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                    return pid
            except OSError:  # closed meanwhile
                continue
    return None


class Connection:
    """One MCP request on a connection of its own; remembers which worker answered it."""

    def __init__(self, server: LiveServer, pids: set[int]) -> None:
        self.server, self.pids = server, pids

    def post(self, token: str, message: dict, protocol: str = "2025-06-18") -> tuple[int, dict | None, int | None]:
        connection = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
        try:
            connection.request(
                "POST",
                "/mcp",
                json.dumps(message),
                {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": protocol,
                },
            )
            response = connection.getresponse()
            owner = server_end_owner(self.server.port, connection.sock.getsockname()[1], self.pids)
            body = response.read()
            assert response.getheader("Mcp-Session-Id") is None, "stateless: no session to stick to"
            return response.status, json.loads(body) if body else None, owner
        finally:
            connection.close()


def one_client(
    server: LiveServer, pids: set[int], token: str, number: int
) -> list[tuple[int, dict | None, int | None]]:
    """initialize, initialized, tools/list, create_task, get_task: each on a new connection."""
    connection = Connection(server, pids)
    answers = [
        connection.post(
            token,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "workers-test", "version": "1"},
                },
            },
        ),
        connection.post(token, {"jsonrpc": "2.0", "method": "notifications/initialized"}),
        connection.post(token, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    ]
    created = connection.post(
        token,
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "create_task", "arguments": {"title": f"Task of client {number}"}},
        },
    )
    task_id = created[1]["result"]["structuredContent"]["id"]
    fetched = connection.post(
        token,
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "get_task", "arguments": {"task_id": task_id}},
        },
    )
    return [*answers, created, fetched]


def test_consecutive_requests_of_a_client_succeed_on_whichever_of_two_workers_they_land(
    two_workers, transactional_db, user, application
):
    token, _ = issue_access_token(
        user=user, application=application, scope="tasks:read tasks:write", resource=[f"{two_workers.url}/mcp"]
    )
    pids = worker_pids(two_workers.process.pid)
    assert len(pids) == 2, "the server runs two worker processes"

    with ThreadPoolExecutor(max_workers=4) as pool:
        clients = list(pool.map(lambda number: one_client(two_workers, pids, token, number), range(SESSIONS)))

    for answers in clients:
        statuses = [status for status, _, _ in answers]
        assert statuses == [200, 202, 200, 200, 200], answers
        initialize, _, tools, created, fetched = (body for _, body, _ in answers)
        assert initialize["result"]["serverInfo"]["name"] == "taskgate"
        assert len(tools["result"]["tools"]) == 6
        assert not created["result"]["isError"]
        assert fetched["result"]["structuredContent"] == created["result"]["structuredContent"]
    owners = [owner for answers in clients for _, _, owner in answers]
    assert None not in owners
    assert set(owners) == pids, "the requests were answered by both workers"
    # Every client had requests answered by different workers one after the other.
    assert sum(len({owner for _, _, owner in answers}) > 1 for answers in clients) >= SESSIONS // 2
