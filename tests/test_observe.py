"""Observability through real HTTP (issue 11, item 6): request ids, access logs (text and
JSON), `/metrics` (its protection, request and engine figures, figures read from the store on
both backends, open long-polls and streams, several API processes), `/readyz`."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api_client import Api, User, expect_error
from tests.conftest import BACKENDS, served
from tests.server import Server

BUFFER = 30 * 86400


@pytest.fixture(scope="module", params=BACKENDS)
def quiet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server with no worker beside it: the purge backlog and the log lag stay until asked."""
    yield from served(request, tmp_path_factory, "quiet", "--no-sweep")


@pytest.fixture(scope="module")
def api(quiet: Server) -> Iterator[Api]:
    with Api(quiet.url) as client:
        yield client


def scrape(api: Api) -> dict[str, float]:
    text = api.call("GET", "/metrics", admin=True).text
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_request_id_accepted_or_made_and_echoed(api: Api) -> None:
    given = api.call("GET", "/healthz", headers={"x-request-id": "trace-42/a:b"})
    assert given.headers["x-request-id"] == "trace-42/a:b"
    made = api.call("GET", "/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    for bad in (b"has space", b"x" * 129, "é".encode(), b"tab\there"):
        echoed = api.http.get("/healthz", headers=[(b"x-request-id", bad)])
        assert re.fullmatch(r"[0-9a-f]{16}", echoed.headers["x-request-id"])
    # On errors too: a 404, a 401, a 422.
    for response in (
        api.call("GET", "/nowhere", headers={"x-request-id": "r1"}),
        api.call("GET", "/v1/users/x/contacts", headers={"x-request-id": "r2"}),
        api.call("POST", "/v1/users", admin=True, content=b"{", headers={"x-request-id": "r3"}),
    ):
        assert response.status_code >= 400
        assert response.headers["x-request-id"] in ("r1", "r2", "r3")


def test_access_log_line_carries_the_request_id(api: Api, quiet: Server) -> None:
    alice = api.create_user()
    api.call("GET", f"/v1/users/{alice.id}/contacts", alice, headers={"x-request-id": "look-me-up"})
    deadline = time.monotonic() + 5
    while "look-me-up" not in quiet.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(x for x in quiet.log().splitlines() if "look-me-up" in x)
    assert (
        line
        == f"INFO hushan.access [look-me-up] GET /v1/users/{alice.id}/contacts 200 "
        + (line.rsplit(" ", 1)[1])
    )
    assert alice.token not in quiet.log()


def test_metrics_need_the_admin_key_or_the_metrics_token(api: Api, tmp_path: Path) -> None:
    expect_error(api.call("GET", "/metrics"), 401, "unauthenticated")
    alice = api.create_user()
    expect_error(api.call("GET", "/metrics", alice), 403, "admin_required")
    assert api.call("GET", "/metrics", admin=True).status_code == 200
    server = Server(tmp_path, "--no-sweep", HUSHAN_METRICS_TOKEN="scrape-me").start()
    try:
        reply = httpx.get(f"{server.url}/metrics", headers={"authorization": "Bearer scrape-me"})
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/plain")
    finally:
        server.stop()


def test_requests_by_route_template_and_engine_operations(api: Api) -> None:
    alice, bob = api.users("a", "b")
    api.send(alice, bob.id, "hi")  # refused: not friends
    api.befriend(alice, bob)
    api.message(alice, bob.id, "hi")
    found = scrape(api)
    route = 'route="/v1/users/{user_id}/messages"'
    assert found[f'hushan_http_requests_total{{method="POST",{route},status="201"}}'] >= 1
    assert found[f'hushan_http_requests_total{{method="POST",{route},status="409"}}'] >= 1
    assert found[f'hushan_http_request_duration_seconds_count{{method="POST",{route}}}'] >= 2
    ops = "hushan_engine_operations_total"
    assert found[f'{ops}{{operation="send",outcome="ok"}}'] >= 1
    assert found[f'{ops}{{operation="send",outcome="not_in_your_contacts"}}'] >= 1
    assert found['hushan_engine_operation_duration_seconds_count{operation="send"}'] >= 2
    # Ids never become labels; an unknown path is `unmatched`.
    api.call("GET", "/no/such/path")
    text = api.call("GET", "/metrics", admin=True).text
    assert alice.id not in text
    assert 'route="unmatched",status="404"' in text


def test_write_batch_sizes(api: Api, quiet: Server) -> None:
    """SQLite's group commit counts the writes of each commit; on PostgreSQL each write is
    its own commit and nothing is counted."""
    before = scrape(api).get("hushan_write_batch_size_count", 0.0)
    alice, bob = api.users("batch-a", "batch-b")
    api.befriend(alice, bob)
    found = scrape(api)
    count = found.get("hushan_write_batch_size_count", 0.0)
    if "HUSHAN_DATABASE_URL" in quiet.env:
        assert count == 0
        return
    assert count >= before + 3  # two users, a request, its acceptance: each committed
    assert found["hushan_write_batch_size_sum"] >= count  # at least one write per commit
    assert found['hushan_write_batch_size_bucket{le="64.0"}'] == count


def test_purge_backlog_and_log_lag_read_from_the_store(api: Api) -> None:
    api.befriend(*api.users("e1", "e2"))  # entries to check, whichever test ran first
    first = api.call("POST", "/v1/admin/log/checkpoint", admin=True)
    assert first.status_code == 200, first.text
    assert scrape(api)["hushan_log_integration_lag"] == 0
    alice, bob = api.users("a", "b")
    api.befriend(alice, bob)
    api.message(alice, bob.id, "soon gone")
    api.delete(alice, bob.id)
    api.delete(bob, alice.id)  # mutual: buffered for 30 days
    found = scrape(api)
    assert found["hushan_log_integration_lag"] >= 5  # requests, edges, buffering: audited
    assert found['hushan_purge_backlog{stage="key"}'] == 0
    api.advance(BUFFER + 120)
    found = scrape(api)
    assert found['hushan_purge_backlog{stage="key"}'] >= 1
    assert found["hushan_purge_overdue_seconds"] >= 120
    api.sweep()
    assert api.call("POST", "/v1/admin/log/checkpoint", admin=True).status_code == 200
    found = scrape(api)
    assert found['hushan_purge_backlog{stage="key"}'] == 0
    assert found['hushan_purge_backlog{stage="rows"}'] == 0
    assert found["hushan_purge_overdue_seconds"] == 0
    assert found["hushan_log_integration_lag"] == 0


def test_open_long_polls_and_event_streams(api: Api, quiet: Server) -> None:
    alice = api.create_user()
    device = api.ok("POST", f"/v1/users/{alice.id}/devices", alice, json={"name": "phone"})["id"]
    base = f"{quiet.url}/v1/users/{alice.id}/devices/{device}"
    poll = threading.Thread(
        target=httpx.get,
        args=(f"{base}/changes?wait=3",),
        kwargs={"headers": alice.auth, "timeout": 10},
    )
    poll.start()
    with httpx.stream("GET", f"{base}/events", headers=alice.auth, timeout=10) as stream:
        lines = stream.iter_lines()  # kept: a dropped line iterator closes the stream
        next(lines)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = scrape(api)
            if found["hushan_open_long_polls"] == 1 and found["hushan_open_event_streams"] == 1:
                break
            time.sleep(0.05)
        assert (found["hushan_open_long_polls"], found["hushan_open_event_streams"]) == (1, 1)
    poll.join()
    deadline = time.monotonic() + 5
    while scrape(api)["hushan_open_event_streams"] and time.monotonic() < deadline:
        time.sleep(0.05)
    found = scrape(api)
    assert (found["hushan_open_long_polls"], found["hushan_open_event_streams"]) == (0, 0)


def test_readyz_checks_database_schema_and_key_files(api: Api, quiet: Server) -> None:
    ready = api.ok("GET", "/readyz")
    assert ready == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "key_files": "ok"},
    }
    key = quiet.directory / (
        "hushan.key" if "HUSHAN_DATABASE_URL" in quiet.env else "hushan.db.key"
    )
    key.rename(key.with_name("moved"))
    try:
        refused = api.call("GET", "/readyz")
        expect_error(refused, 503, "not_ready")
        assert key.name in refused.json()["error"]["message"]
        assert api.call("GET", "/healthz").status_code == 200  # alive all the same
    finally:
        key.with_name("moved").rename(key)
    set_revision(quiet, "0000_not_the_head")
    try:
        expect_error(api.call("GET", "/readyz"), 503, "not_ready")
    finally:
        set_revision(quiet, ready_revision(quiet))
    assert api.call("GET", "/readyz").status_code == 200


_revision: dict[str, str] = {}


def _sql(server: Server, statement: str) -> list[tuple[object, ...]]:
    url = server.env.get("HUSHAN_DATABASE_URL")
    if url:
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(statement)
            return list(cur.fetchall()) if cur.description else []
    with sqlite3.connect(server.db) as conn:
        return list(conn.execute(statement).fetchall())


def ready_revision(server: Server) -> str:
    return _revision[server.url]


def set_revision(server: Server, revision: str) -> None:
    if server.url not in _revision:
        _revision[server.url] = str(_sql(server, "SELECT version_num FROM alembic_version")[0][0])
    _sql(server, f"UPDATE alembic_version SET version_num = '{revision}'")


def test_json_logs(tmp_path: Path) -> None:
    server = Server(tmp_path, "--no-sweep", HUSHAN_LOG_FORMAT="json").start()
    try:
        httpx.get(f"{server.url}/v1/log/key", headers={"x-request-id": "json-1"})
        httpx.get(f"{server.url}/nowhere", headers={"x-request-id": "json-2"})
        time.sleep(0.2)
        lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
        by_id = {x["request_id"]: x for x in lines if x["logger"] == "hushan.access"}
        assert by_id["json-1"]["status"] == 200
        assert by_id["json-1"]["path"] == "/v1/log/key"
        assert by_id["json-2"]["status"] == 404
        assert {"time", "level", "message", "duration_ms", "method"} <= set(by_id["json-1"])
    finally:
        server.stop()


def test_metrics_of_several_api_processes_add_up(tmp_path: Path) -> None:
    server = Server(tmp_path, "--workers", "2", HUSHAN_TEST_CLOCK="0").start()
    try:
        with Api(server.url) as client:
            alice: User = client.create_user()
            for _ in range(40):  # new connections: both processes answer some
                httpx.get(f"{server.url}/v1/users/{alice.id}/contacts", headers=alice.auth)
            found = scrape(client)
            route = 'route="/v1/users/{user_id}/contacts"'
            key = f'hushan_http_requests_total{{method="GET",{route},status="200"}}'
            assert found[key] == 40
            assert (
                found['hushan_engine_operations_total{operation="list_contacts",outcome="ok"}']
                == 40
            )
    finally:
        server.stop()
