"""A process's PostgreSQL connections: one bounded, health-checked pool (`psycopg_pool`).

One connection per thread gave every thread that ever ran a transaction (the engine pool's, the
sweep's, the health checks') a connection of its own for its whole life, with no bound but the
number of threads, and found a connection the server had dropped only by failing a request on
it. The pool holds at most `size` connections, opens them as they are needed and closes the
ones left idle; it checks each one with a round trip before lending it, and replaces one that
fails the check (or that comes back broken) with a new one.

A call that gets no connection within the timeout is `Busy`, as a lock not had in time is,
unless the server cannot be reached at all: then it is `DatabaseUnavailable`, as before.
"""

from __future__ import annotations

import select
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from hushan.domain.errors import Busy, DatabaseUnavailable

# `hushan serve`'s size by default: its 8 engine threads, plus one for the sweep and one for
# the health checks, so that neither waits behind a full engine pool (see `Settings`).
SPARE_CONNECTIONS = 2
DEFAULT_POOL_SIZE = 8 + SPARE_CONNECTIONS
# How long one attempt to connect may take: the pool's own (in its background workers), and
# the look at the server that tells a full pool from a server that is down.
CONNECT_TIMEOUT_SECONDS = 5
# A connection given back less than this long ago, with nothing to read on its socket, is lent
# without a round trip: the server could only have dropped it silently (a network cut) within
# this window, which the transaction then meets as `DatabaseUnavailable`, retried as any 503.
CHECK_IDLE_SECONDS = 2.0

Connection = psycopg.Connection[Any]


class IdleCheck:
    """The pool's `check`: a round trip for connections idle long enough or with something
    unread on their socket; none for one given back a moment ago."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    def returned(self, conn: Connection) -> None:
        """The connection's last round trip ended now."""
        self._returned[conn] = time.monotonic()

    def __call__(self, conn: Connection) -> None:
        since = self._returned.get(conn)
        if since is None or time.monotonic() - since > CHECK_IDLE_SECONDS or _unread(conn):
            ConnectionPool.check_connection(conn)


def _unread(conn: Connection) -> bool:
    """Whether the idle connection's socket has anything to read (a closed one reads EOF)."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return True
    return bool(readable)


class Connections:
    """At most `size` connections to `url`, each set up by `configure` when it is opened; a
    borrower waits at most `timeout` seconds for one.

    The pool is opened on first use, not here, so that a store that is never used costs no
    connection and no thread; after `close` the next use opens a new one."""

    def __init__(
        self, url: str, size: int, timeout: float, configure: Callable[[Connection], None]
    ) -> None:
        self.url, self.size, self.timeout = url, size, timeout
        self._configure = configure
        self._pool: ConnectionPool[Connection] | None = None
        self._lock = threading.Lock()
        self._check = IdleCheck()

    def _opened(self) -> ConnectionPool[Connection]:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    kwargs={"autocommit": False, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
                    min_size=0,
                    max_size=self.size,
                    open=True,
                    configure=self._configured,
                    check=self._check,
                    timeout=self.timeout,
                    # A failed connection is retried with backoff for this long, then its place
                    # is freed for the next borrower to try again at once: a short outage must
                    # not leave the pool waiting out a long backoff after the server is back.
                    reconnect_timeout=max(self.timeout, 1.0),
                    name="hushan",
                )
            return self._pool

    def _configured(self, conn: Connection) -> None:
        self._configure(conn)
        self._check.returned(conn)  # its last round trip: as fresh as one just given back

    @contextmanager
    def borrowed(self) -> Iterator[Connection]:
        """A connection for one transaction, given back (and replaced if it broke) after."""
        pool = self._opened()
        try:
            conn = pool.getconn()
        except PoolTimeout as error:
            raise (Busy() if self._reachable() else DatabaseUnavailable()) from error
        except psycopg.OperationalError as error:  # the pool was closed meanwhile
            raise DatabaseUnavailable() from error
        try:
            yield conn
        finally:
            self._check.returned(conn)
            pool.putconn(conn)

    def _reachable(self) -> bool:
        """Whether the server takes a connection now. Asked only of a borrower that waited in
        vain: the pool retries its own failed connections in the background, so a timeout
        alone does not tell a pool fully lent out from a server that is down."""
        try:
            with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_SECONDS):
                return True
        except psycopg.OperationalError:
            return False

    def stats(self) -> dict[str, int]:
        """The pool's figures (`psycopg_pool`'s names: `pool_size`, `requests_waiting`, ...)."""
        return self._opened().get_stats()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
