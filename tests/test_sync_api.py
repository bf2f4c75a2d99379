"""The sync feed through HTTP, across two `hushan serve` processes on one database: a long-poll
held by one process is woken by a message sent through the other (SQLite: the watched rowid;
PostgreSQL: LISTEN/NOTIFY)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api, expect_error, uid
from tests.conftest import BACKENDS, backend_env
from tests.server import Server


@pytest.fixture(scope="module", params=BACKENDS)
def two_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, Api]]:
    env = backend_env(request)
    directory: Path = tmp_path_factory.mktemp("sync")
    first = Server(directory, **env).start()
    second = Server(directory, "--no-sweep", **env).start()
    with Api(first.url) as one, Api(second.url) as two:
        yield one, two
    second.stop()
    first.stop()


def test_a_long_poll_is_woken_by_a_change_made_in_another_process(
    two_servers: tuple[Api, Api],
) -> None:
    one, two = two_servers
    a, b = one.create_user(uid("a")), one.create_user(uid("b"))
    one.befriend(a, b)
    device = one.call("POST", f"/v1/users/{b.id}/devices", b, json={"name": "phone"})
    assert device.status_code == 201, device.text
    path = f"/v1/users/{b.id}/devices/{device.json()['id']}"
    got: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        got["page"] = one.ok("GET", f"{path}/changes", b, params={"wait": 20})
        got["seconds"] = time.monotonic() - started

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(0.5)  # the poll is waiting now
    two.message(a, b.id, "wake up")  # through the other process
    waiting.join(timeout=30)
    page = got["page"]
    assert [(c["kind"], c["message"]["body"]) for c in page["changes"]] == [("message", "wake up")]
    assert got["seconds"] < 10
    acked = one.ok("POST", f"{path}/ack", b, json={"cursor": page["next_cursor"]})
    assert acked["cursor"] == page["next_cursor"]


def test_an_idle_long_poll_returns_empty_after_its_wait(two_servers: tuple[Api, Api]) -> None:
    one, _ = two_servers
    a = one.create_user(uid("a"))
    device = one.ok("POST", f"/v1/users/{a.id}/devices", a, json={"name": "tablet"})
    started = time.monotonic()
    page = one.ok("GET", f"/v1/users/{a.id}/devices/{device['id']}/changes", a, params={"wait": 1})
    assert page == {"changes": [], "next_cursor": 0, "more": False}
    assert 0.9 < time.monotonic() - started < 10


def test_devices_residue_and_errors_through_http(two_servers: tuple[Api, Api]) -> None:
    one, _ = two_servers
    a, b = one.create_user(uid("a")), one.create_user(uid("b"))
    one.befriend(a, b)
    device = one.ok("POST", f"/v1/users/{a.id}/devices", a, json={"name": "phone"})
    path = f"/v1/users/{a.id}/devices/{device['id']}"
    one.message(b, a.id, "bye")
    one.block_and_delete(a, b.id)
    page = one.ok("GET", f"{path}/changes", a)
    assert [c["kind"] for c in page["changes"]] == ["contact_removed", "purge"]  # no content
    (history,) = one.ok("GET", f"/v1/users/{a.id}/data-residue", a)["histories"]
    assert (history["other"], history["state"]) == (b.id, "purged")
    assert history["devices_with_copies"] == [device["id"]]
    one.ok("POST", f"{path}/ack", a, json={"cursor": page["next_cursor"]})
    (history,) = one.ok("GET", f"/v1/users/{a.id}/data-residue", a)["histories"]
    assert history["devices_with_copies"] == []
    listed = one.ok("GET", f"/v1/users/{a.id}/devices", a)["devices"]
    assert [d["cursor"] for d in listed] == [page["next_cursor"]]
    expect_error(
        one.call("POST", f"{path}/ack", a, json={"cursor": 999}), 422, "cursor_out_of_range"
    )
    expect_error(
        one.call("POST", f"/v1/users/{a.id}/devices", a, json={"name": ""}),
        422,
        "invalid_device_name",
    )
    expect_error(one.call("GET", f"{path}/changes", b), 403, "acting_as_other_user")
    assert one.ok("DELETE", path, a) == {"status": "removed"}
    expect_error(one.call("GET", f"{path}/changes", a), 404, "device_not_found")


def test_a_device_away_past_the_retention_is_told_to_start_over(
    two_servers: tuple[Api, Api],
) -> None:
    one, _ = two_servers
    a, b = one.create_user(uid("a")), one.create_user(uid("b"))
    one.befriend(a, b)
    device = one.ok("POST", f"/v1/users/{a.id}/devices", a, json={"name": "old"})
    one.message(b, a.id, "one")
    one.message(b, a.id, "two")
    one.ok("POST", "/v1/admin/clock/advance", admin=True, json={"seconds": 91 * 86400})
    assert one.ok("POST", "/v1/admin/sweep", admin=True)["changes_pruned"] >= 1
    expect_error(
        one.call("GET", f"/v1/users/{a.id}/devices/{device['id']}/changes", a),
        410,
        "cursor_expired",
    )


def read_events(lines: Iterator[str], until: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Server-Sent Events from the stream's lines, up to and with the first `until` event.
    Fields come in any order; a blank line ends an event (as a browser reads them)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    name = ident = data = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("id: "):
            ident = line.removeprefix("id: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            found.append((name, ident, json.loads(data)))
            if name == until:
                return found
            name = data = ""
    raise AssertionError(f"the stream ended before {until}: {found}")


def test_the_feed_as_server_sent_events(two_servers: tuple[Api, Api]) -> None:
    one, two = two_servers
    a, b = one.create_user(uid("a")), one.create_user(uid("b"))
    one.befriend(a, b)
    device = one.ok("POST", f"/v1/users/{b.id}/devices", b, json={"name": "phone"})
    one.message(a, b.id, "before")
    path = f"/v1/users/{b.id}/devices/{device['id']}/events"
    with one.http.stream("GET", path, headers=b.auth) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        caught_up = read_events(lines, "caught_up")
        assert [
            (name, [c["message"]["body"] for c in data.get("changes", [])])
            for name, _, data in caught_up
        ] == [("changes", ["before"]), ("caught_up", [])]
        two.message(a, b.id, "live")  # through the other process
        ((name, seq, live),) = read_events(lines, "changes")
        bodies = [c["message"]["body"] for c in live["changes"]]
        assert (name, bodies, int(seq)) == ("changes", ["live"], live["next_cursor"])
    # Resuming from the last event id sends nothing again.
    headers = {**b.auth, "last-event-id": seq}
    with one.http.stream("GET", path, headers=headers) as stream:
        ((name, _, body),) = read_events(stream.iter_lines(), "caught_up")
        assert (name, body) == ("caught_up", {"cursor": int(seq)})
    expect_error(one.call("GET", path, a), 403, "acting_as_other_user")
    missing = f"/v1/users/{b.id}/devices/nope/events"
    expect_error(one.call("GET", missing, b), 404, "device_not_found")


def test_a_server_stops_promptly_with_an_event_stream_open(tmp_path: Path) -> None:
    """An event stream never ends by itself; a stop must not wait for it forever. (A raw
    socket, as curl holds one: httpx's pooled connection happened to let uvicorn go.)"""
    server = Server(tmp_path, "--no-sweep").start()
    try:
        with Api(server.url) as api:
            a = api.create_user(uid("a"))
            device = api.ok("POST", f"/v1/users/{a.id}/devices", a, json={"name": "phone"})
        request = (
            f"GET /v1/users/{a.id}/devices/{device['id']}/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {a.token}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as stream:
            stream.sendall(request.encode())
            received = b""
            while b"caught_up" not in received:  # open, and waiting for more
                received += stream.recv(4096)
            assert server.process is not None
            started = time.monotonic()
            server.process.terminate()
            server.process.wait(timeout=30)
            assert time.monotonic() - started < 15
    finally:
        server.stop()
