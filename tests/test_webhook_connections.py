"""The sender's HTTP side, against scripted servers on 127.0.0.1: keep-alive connections are
reused, one the endpoint closed (while idle, or by answering `connection: close`) is replaced
without failing an attempt, an answer's body is read whole, and an attempt that gets no answer
is recorded under its error's name (the names httpx gave them: `last_error` keeps them); an
interim answer, a body to the end of the stream and a cut-off one are read as HTTP/1.1 says."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from hushan.delivery import Deliverer
from hushan.domain.events import Event, EventType
from hushan.domain.webhooks import Delivery, DeliveryState
from hushan.service import Hushan
from hushan.service.webhooks import Outbound

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class Scripted:
    """A server on 127.0.0.1 (or `host`) that runs a script on each connection it accepts (given the
    connection and how many came before it), and keeps the head of every request read."""

    def __init__(
        self, script: Callable[[Scripted, socket.socket, int], None], host: str = "127.0.0.1"
    ) -> None:
        self.script = script
        self.heads: list[bytes] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, 0), family=family)
        port = self._listener.getsockname()[1]
        where = f"[{host}]" if ":" in host else host
        self.url = f"http://{where}:{port}/hook?x=1#part"

    def read(self, conn: socket.socket) -> bytes:
        """One whole request (its head, then `content-length` bytes of body): its head, or b""
        if the connection ended first."""
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = conn.recv(65536)
            if not chunk:
                return b""
            got += chunk
        head, _, body = got.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next(int(line[15:]) for line in lines if line.startswith(b"content-length:"))
        while len(body) < length:
            body += conn.recv(65536)
        self.heads.append(head)
        return head

    def _serve(self) -> None:
        n = 0
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed: the test is over
            threading.Thread(target=self.script, args=(self, conn, n), daemon=True).start()
            n += 1

    @contextmanager
    def running(self) -> Iterator[Scripted]:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone may not)
            self._listener.close()
            thread.join(5)


def outbound(url: str, seq: int = 1) -> Outbound:
    delivery = Delivery(
        seq, "we_1", seq, DeliveryState.PENDING, 0, NOW, None, None, None, NOW, None
    )
    event = Event(seq, EventType.CONTACT_REMOVED, NOW, "A", "A", "B", "none", None)
    return Outbound(delivery, event, url, ("whsec_" + "A" * 44,))


@pytest.fixture
def sender(sqlite_engine: Hushan) -> Iterator[Deliverer]:
    made = Deliverer(sqlite_engine, timeout=0.5, threads=1)
    yield made
    made.close()


def answer_each(server: Scripted, conn: socket.socket, _: int) -> None:
    with conn:
        while server.read(conn):
            conn.sendall(NO_CONTENT)


def test_one_connection_serves_every_attempt(sender: Deliverer) -> None:
    connections: list[int] = []

    def counted(server: Scripted, conn: socket.socket, n: int) -> None:
        connections.append(n)
        answer_each(server, conn, n)

    with Scripted(counted).running() as server:
        assert [sender.attempt(outbound(server.url, n)).status for n in range(3)] == [204] * 3
    assert connections == [0] and len(server.heads) == 3
    # The target keeps the query but not the fragment; the host header names the origin.
    assert server.heads[0].startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert f"\r\nhost: {server.url.split('/')[2]}\r\n".encode() in server.heads[0].lower()


def test_a_connection_the_endpoint_closed_is_replaced(sender: Deliverer) -> None:
    closed = threading.Event()

    def once_then_close(server: Scripted, conn: socket.socket, _: int) -> None:
        with conn:
            if server.read(conn):
                conn.sendall(NO_CONTENT)  # keep-alive, then closed while idle
        closed.set()

    with Scripted(once_then_close).running() as server:
        first = sender.attempt(outbound(server.url, 1))
        assert closed.wait(5)
        second = sender.attempt(outbound(server.url, 2))
    assert (first.status, second.status, len(server.heads)) == (204, 204, 2)


def test_an_answer_that_closes_and_ones_with_a_body(sender: Deliverer) -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 410 Gone\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    ]

    def bodies(server: Scripted, conn: socket.socket, n: int) -> None:
        with conn:
            for answer in answers if n == 0 else [NO_CONTENT]:
                if not server.read(conn):
                    return
                conn.sendall(answer)

    with Scripted(bodies).running() as server:
        got = [sender.attempt(outbound(server.url, n)).status for n in range(4)]
    assert got == [200, 200, 410, 204] and len(server.heads) == 4


def test_an_interim_answer_a_body_to_the_end_and_a_cut_off_body(sender: Deliverer) -> None:
    """A 1xx is followed by the real answer; a body with neither length nor chunks runs to
    the end of the stream (the connection is not used again); one cut off short of its length
    is no answer."""
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    answers = [
        [
            b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nto the end",
        ],
        [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf"],
        [NO_CONTENT],
    ]

    def scripted(server: Scripted, conn: socket.socket, n: int) -> None:
        with conn:
            for k, answer in enumerate(answers[n]):
                if not server.read(conn):
                    return
                if n == k == 0:  # the interim answer alone first: read before the real one
                    conn.sendall(interim)
                    threading.Event().wait(0.1)
                conn.sendall(answer)

    with Scripted(scripted).running() as server:
        got = [sender.attempt(outbound(server.url, n)) for n in range(4)]
    assert [(r.status, r.error) for r in got] == [
        (201, None),
        (200, None),
        (None, "RemoteProtocolError"),
        (204, None),
    ]


def stalls(server: Scripted, conn: socket.socket, _: int) -> None:
    with conn:
        server.read(conn)
        threading.Event().wait(2)  # past the sender's timeout


def garbles(server: Scripted, conn: socket.socket, _: int) -> None:
    with conn:
        server.read(conn)
        conn.sendall(b"nonsense\r\n\r\n")


def hangs_up(server: Scripted, conn: socket.socket, _: int) -> None:
    with conn:
        server.read(conn)


@pytest.mark.parametrize(
    ("script", "error"),
    [(stalls, "ReadTimeout"), (garbles, "RemoteProtocolError"), (hangs_up, "RemoteProtocolError")],
)
def test_an_attempt_with_no_answer_is_named_by_its_error(
    sender: Deliverer, script: Callable[[Scripted, socket.socket, int], None], error: str
) -> None:
    with Scripted(script).running() as server:
        result = sender.attempt(outbound(server.url))
    assert (result.status, result.error) == (None, error)


def test_unreachable_and_not_tls_are_connect_errors(sender: Deliverer) -> None:
    gone = socket.create_server(("127.0.0.1", 0))
    port = gone.getsockname()[1]
    gone.close()
    assert sender.attempt(outbound(f"http://127.0.0.1:{port}/")).error == "ConnectError"
    assert sender.attempt(outbound("http://127.0.0.1:99999/")).error == "ConnectError"
    assert sender.attempt(outbound("http://[1]/")).error == "ConnectError"  # stored before
    assert sender.attempt(outbound("http://[::1]/")).error == "ConnectError"  # no port: 80

    def plain(_: Scripted, conn: socket.socket, __: int) -> None:
        with conn:
            conn.recv(65536)  # a TLS hello, answered in plain HTTP
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

    with Scripted(plain).running() as server:
        result = sender.attempt(outbound(server.url.replace("http:", "https:")))
    assert (result.status, result.error) == (None, "ConnectError")


def answer_no_content(server: Scripted, conn: socket.socket, _: int) -> None:
    with conn:
        while server.read(conn):
            conn.sendall(NO_CONTENT)


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_an_endpoint_at_an_ipv6_address(sender: Deliverer) -> None:
    """A bracketed IPv6 host, with its port and (the next test's) without: http.client reads
    a host given without a port as `host:port`, which an IPv6 address always looks like."""
    try:
        server = Scripted(answer_no_content, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server.running():
        result = sender.attempt(outbound(server.url))
    assert (result.status, result.error) == (204, None)
    assert server.heads[0].split(b"\r\n")[0] == b"POST /hook?x=1 HTTP/1.1"
    assert f"host: {server.url.split('/')[2]}".encode() in server.heads[0].lower()
