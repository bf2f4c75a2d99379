"""An idempotency key and its write are one: a server killed (SIGKILL) in the middle of keyed
sends leaves each message with its key, or neither, on each backend; retrying every key on a
restarted server then stores each message exactly once."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import ExitStack, closing
from typing import Any

import httpx
import psycopg

from tests.api_client import User
from tests.test_crash import Database, database, stack, start  # noqa: F401 - fixtures

SENDERS = 4


def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    if db.url is not None:
        with psycopg.connect(db.url) as conn:
            return list(conn.execute(sql).fetchall())
    with closing(sqlite3.connect(db.file, timeout=10)) as conn:
        return list(conn.execute(sql).fetchall())


def keyed_send(http: httpx.Client, a: User, b: User, key: str) -> httpx.Response:
    return http.post(
        f"/v1/users/{a.id}/messages",
        headers={**a.auth, "Idempotency-Key": key},
        json={"to": b.id, "body": key},
    )


def test_kill_keeps_each_key_with_its_write(
    database: Database,  # noqa: F811
    stack: ExitStack,  # noqa: F811
    tmp_path: Any,
) -> None:
    server, api = start(stack, database.directory, **database.env)
    pairs = []
    for n in range(SENDERS):
        a, b = api.users(f"ka{n}", f"kb{n}")
        api.befriend(a, b)
        pairs.append((a, b))
    tried: dict[str, tuple[User, User]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n: int) -> None:
        a, b = pairs[n]
        with httpx.Client(base_url=server.url, timeout=10) as http:
            i = 0
            while not stop.is_set():
                key = f"k{n}-{i}"
                with lock:
                    tried[key] = (a, b)
                try:
                    keyed_send(http, a, b, key)
                except httpx.TransportError:
                    return
                i += 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    for t in threads:
        t.join()

    crashed = database.as_crashed(tmp_path / "crashed")
    message_ids = {int(r[0]) for r in rows(crashed, "SELECT id FROM messages")}
    replies = rows(crashed, "SELECT key, status, body FROM idempotency_keys")
    keyed_ids = set()
    for _, status, body in replies:
        assert status == 201
        keyed_ids.add(json.loads(bytes(body))["id"])
    assert message_ids, "nothing was sent before the kill"
    assert keyed_ids == message_ids  # every write with its key, every key with its write

    # Every key retried on a restarted server: each message exactly once.
    server2, _ = start(stack, database.directory, **database.env)
    with httpx.Client(base_url=server2.url, timeout=10) as http:
        for key, (a, b) in tried.items():
            response = keyed_send(http, a, b, key)
            assert response.status_code == 201, response.text
            assert response.json()["body"] == key
    bodies = [r[0] for r in rows(database, "SELECT COUNT(*) FROM messages")]
    assert bodies == [len(tried)]
