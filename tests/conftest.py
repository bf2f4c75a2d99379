"""Shared fixtures: engines on a manual clock, on every backend.

SQLite: a migrated template file copied per test. PostgreSQL: one migrated database per test
process, emptied per test. PostgreSQL is looked for at HUSHAN_TEST_POSTGRES_URL (default: the
local server); when it cannot be reached the run says so and covers SQLite alone, unless
HUSHAN_REQUIRE_POSTGRES=1 (CI), which makes that an error.

A third backend, `citus`, runs only when HUSHAN_TEST_CITUS_URL names a Citus cluster's
coordinator (its `postgres` database, the workers registered: `scripts/citus-cluster start`,
`make test-citus`): the same tests on a database made on every node and distributed by the
migrations (HUSHAN_CITUS), emptied per test like PostgreSQL's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from hushan.clock import ManualClock
from hushan.crypto import Sealer
from hushan.domain.model import User
from hushan.service import Hushan, Limits
from hushan.store import migrate
from hushan.store.base import Store
from hushan.store.postgres import PostgresStore
from hushan.store.sqlite import SqliteStore
from hushan.tlog.note import Signer
from tests.api_client import Api
from tests.server import Server

# Tests wait for no fsync at commit: what a test checks survives a killed client either way.
PG_URL = os.environ.get(
    "HUSHAN_TEST_POSTGRES_URL",
    "postgresql://postgres@127.0.0.1:5432/postgres?options=-c%20synchronous_commit%3Doff",
)


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


# The mutation run (tools/mutation.py) asks for SQLite alone: the code it mutates is the same on
# both backends, and one backend halves the time of every mutant's tests.
SQLITE_ONLY = os.environ.get("HUSHAN_TEST_SQLITE_ONLY") == "1"
POSTGRES = not SQLITE_ONLY and _postgres_reachable()
if not POSTGRES and not SQLITE_ONLY and os.environ.get("HUSHAN_REQUIRE_POSTGRES") == "1":
    raise pytest.UsageError(f"PostgreSQL is required but not reachable at {PG_URL}")
CITUS_URL = os.environ.get("HUSHAN_TEST_CITUS_URL", "")
CITUS = bool(CITUS_URL) and not SQLITE_ONLY
BACKENDS = ["sqlite", "postgres"] if POSTGRES else ["sqlite"]
if CITUS:
    BACKENDS.append("citus")
SERVERS = {"postgres", "citus"}  # the backends whose engines are a database server's

# The rate limiter's shared buckets: Redis at HUSHAN_TEST_REDIS_URL, required like PostgreSQL
# when HUSHAN_REQUIRE_REDIS=1 (CI); else its tests run in-process alone, and the run says so.
REDIS_URL = os.environ.get("HUSHAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_reachable() -> bool:
    import redis

    try:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=3, socket_connect_timeout=3) as r:
            return bool(r.ping())
    except redis.RedisError:
        return False


REDIS = not SQLITE_ONLY and _redis_reachable()
if not REDIS and not SQLITE_ONLY and os.environ.get("HUSHAN_REQUIRE_REDIS") == "1":
    raise pytest.UsageError(f"Redis is required but not reachable at {REDIS_URL}")
LIMITERS = ["memory", "redis"] if REDIS else ["memory"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first (stable otherwise): started last, one of them would keep a worker
    busy after the other has run out of tests."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if POSTGRES:
        terminalreporter.write_line(f"backends: SQLite and PostgreSQL ({PG_URL})")
    elif SQLITE_ONLY:
        terminalreporter.write_line("backends: SQLite only, as HUSHAN_TEST_SQLITE_ONLY=1 asks")
    else:
        terminalreporter.write_line(
            f"backends: SQLite ONLY -- PostgreSQL is not reachable at {PG_URL}; the PostgreSQL"
            " half did not run (set HUSHAN_TEST_POSTGRES_URL, or start it)",
            yellow=True,
        )
    if CITUS:
        terminalreporter.write_line(f"and a Citus cluster, coordinator at {CITUS_URL}")
    if REDIS:
        terminalreporter.write_line(f"rate limits: in-process and Redis ({REDIS_URL})")
    elif not SQLITE_ONLY:
        terminalreporter.write_line(
            f"rate limits: in-process ONLY -- Redis is not reachable at {REDIS_URL}; the Redis"
            " half did not run (set HUSHAN_TEST_REDIS_URL, or start it)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def pg_database(worker_id: str) -> Iterator[str]:
    """A migrated database of this test process's own, dropped at the end."""
    name = f"hushan_test_{worker_id}_{os.getpid()}"
    create_database(name)
    url = database_url(name)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str, admin_url: str = PG_URL) -> None:
    """A new, empty database whose text collation is ICU's en-US, where 'B' sorts after 'a'
    (in C it sorts before): as on many servers, so a comparison of ids in SQL, which would
    disagree with Python's order there, fails a test here instead of a deployment."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0'
            " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )


def database_url(name: str, admin_url: str = PG_URL) -> str:
    """`admin_url` with another database name (its query string kept)."""
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def _on_node(url: str, host: str, port: int) -> str:
    """`url` pointed at another node of the cluster (user, database and options kept)."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}:{port}" if user else f"{host}:{port}"))


def _citus_nodes() -> list[tuple[str, int]]:
    """The workers the coordinator at CITUS_URL has registered."""
    with psycopg.connect(CITUS_URL) as conn:
        rows = conn.execute(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid != 0 ORDER BY nodeport"
        ).fetchall()
    return [(str(host), int(port)) for host, port in rows]


def create_citus_database(name: str) -> str:
    """A migrated, distributed database `name` on the cluster: made on every node with the
    extension, the coordinator told of its workers, then the migrations with HUSHAN_CITUS."""
    coordinator = urlsplit(CITUS_URL)
    workers = _citus_nodes()
    for host, port in [(coordinator.hostname or "127.0.0.1", coordinator.port or 5432), *workers]:
        node = _on_node(CITUS_URL, host, port)
        create_database(name, node)
        with psycopg.connect(database_url(name, node), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    url = database_url(name, CITUS_URL)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT citus_set_coordinator_host(%s, %s)",
            (coordinator.hostname, coordinator.port or 5432),
        )
        for host, port in workers:
            conn.execute("SELECT citus_add_node(%s, %s)", (host, port))
    migrate.upgrade(url, citus=True)
    return url


def drop_citus_database(name: str) -> None:
    coordinator = urlsplit(CITUS_URL)
    nodes = [(coordinator.hostname or "127.0.0.1", coordinator.port or 5432), *_citus_nodes()]
    for host, port in nodes:
        with psycopg.connect(_on_node(CITUS_URL, host, port), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def citus_database(worker_id: str) -> Iterator[str]:
    """A distributed database of this test process's own on the cluster, dropped at the end."""
    name = f"hushan_test_{worker_id}_{os.getpid()}"
    url = create_citus_database(name)
    yield url
    drop_citus_database(name)


def emptied(url: str) -> str:
    """Empty every hushan table of the database (a fresh start, far faster than migrating)."""
    with psycopg.connect(url) as conn:  # one transaction; DELETE beats TRUNCATE on tiny tables
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name != 'alembic_version'"
                " AND table_type = 'BASE TABLE'"  # not Citus' views
            )
        ]
        for table in tables:
            conn.execute(f'DELETE FROM "{table}"')
    return url


class Backends:
    """Makes fresh engines on one backend."""

    def __init__(self, name: str, request: pytest.FixtureRequest) -> None:
        self.name = name
        self.request = request
        self._made: list[Hushan] = []

    def engine(self, limits: Limits | None = None) -> Hushan:
        store: Store
        if self.name in SERVERS:
            store = PostgresStore(emptied(self.shared_database()))
        else:
            template = self.request.getfixturevalue("template_db")
            directory = self.request.getfixturevalue("tmp_path") / f"db{len(self._made)}"
            directory.mkdir()
            path = directory / "hushan.db"
            shutil.copyfile(template, path)
            store = SqliteStore(path)
        made = engine_on(store, limits)
        self._made.append(made)
        return made

    def shared_database(self) -> str:
        """The test process's migrated database on this server backend (not emptied)."""
        fixture = "citus_database" if self.name == "citus" else "pg_database"
        return str(self.request.getfixturevalue(fixture))

    def own_database(self) -> str | None:
        """A migrated database of its own on a server backend (for processes to share), or
        None on SQLite."""
        return new_database(self.request, self.name)

    def close(self) -> None:
        for made in self._made:
            made.store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backends]:
    made = Backends(request.param, request)
    yield made
    made.close()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def engine_on(store: Store, limits: Limits | None = None) -> Hushan:
    signer = Signer.generate("test.hushan/log")
    return Hushan(store, Sealer(os.urandom(32)), signer, ManualClock(), limits)


@contextmanager
def sqlite_store_copy(
    template: Path, directory: Path, busy_timeout: float
) -> Iterator[SqliteStore]:
    """A SQLite store on a copy of the migrated template, closed afterwards."""
    path = directory / "hushan.db"
    shutil.copyfile(template, path)
    opened = SqliteStore(path, busy_timeout=busy_timeout)
    try:
        yield opened
    finally:
        opened.close()


def plain_user(name: str) -> User:
    """A user row named `name` (display name too), without verification."""
    return User(name, name, False, datetime(2026, 1, 1, tzinfo=UTC))


def fresh_engine(template: Path, directory: Path, limits: Limits | None = None) -> Hushan:
    """A new SQLite engine on a copy of the migrated template (far faster than migrating)."""
    path = directory / "hushan.db"
    shutil.copyfile(template, path)
    return engine_on(SqliteStore(path), limits)


@pytest.fixture
def engine(backend: Backends) -> Hushan:
    """A fresh engine, once per backend."""
    return backend.engine()


@pytest.fixture
def sqlite_engine(template_db: Path, tmp_path: Path) -> Iterator[Hushan]:
    """For tests of what only SQLite promises (the bytes of its file)."""
    hushan = fresh_engine(template_db, tmp_path)
    yield hushan
    hushan.store.close()


@pytest.fixture
def clock(engine: Hushan) -> ManualClock:  # the engine's, whichever backend it is on
    assert isinstance(engine.clock, ManualClock)
    return engine.clock


def new_database(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A new migrated database of its own on `backend`, or None on SQLite."""
    if backend == "postgres":
        return str(request.getfixturevalue("new_pg_database")())
    if backend == "citus":
        return str(request.getfixturevalue("new_citus_database")())
    return None


@pytest.fixture(scope="session")
def new_citus_database(worker_id: str) -> Iterator[Callable[[], str]]:
    """Makes distributed databases of their own on the cluster; drops them at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"hushan_srv_{worker_id}_{os.getpid()}_{len(made)}"
        made.append(name)
        return create_citus_database(name)

    yield make
    for name in made:
        drop_citus_database(name)


@pytest.fixture(scope="session")
def new_pg_database(worker_id: str) -> Iterator[Callable[[], str]]:
    """Makes migrated PostgreSQL databases of their own (for servers); drops them at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"hushan_srv_{worker_id}_{os.getpid()}_{len(made)}"
        create_database(name)
        made.append(name)
        url = database_url(name)
        migrate.upgrade(url)
        return url

    yield make
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backend_env(request: pytest.FixtureRequest, **env: str) -> dict[str, str]:
    """A server's environment on the backend `request.param` names: on PostgreSQL, with a
    migrated database of its own."""
    url = new_database(request, request.param)
    if url is not None:
        env["HUSHAN_DATABASE_URL"] = url
    return env


def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    *args: str,
    **env: str,
) -> Iterator[Server]:
    """For a fixture to `yield from`: a real `hushan serve` on `request.param`'s backend,
    stopped afterwards."""
    running = Server(tmp_path_factory.mktemp(name), *args, **backend_env(request, **env))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real `hushan serve` process shared by one test module, once per backend."""
    yield from served(request, tmp_path_factory, "server")


@pytest.fixture
def no_server_errors(server: Server) -> Iterator[None]:
    """Whatever a test sends, the server must never fail inside (no 500, no traceback)."""
    before = server.log().count("Traceback")
    yield
    log = server.log()
    assert log.count("Traceback") == before, f"server logged a traceback:\n{log}"


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[Api]:
    with Api(server.url) as client:
        yield client
