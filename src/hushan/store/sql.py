"""One transaction's SQL, written once for every backend.

The statements are plain SQL that SQLite and PostgreSQL both run; each backend hands `SqlTx` a
connection whose `execute` and `executemany` take `?` placeholders (`?1`, `?2` where a value
is used twice), and adapts them if its driver wants another style. The schema itself is made
only by the Alembic migrations.

`SqlTx` is made of one mixin per part, each in a module named after the tables it works on
(`users_sql`, `auth_sql`, `pairs_sql`, `requests_sql`, `conversations_sql`, `audit_sql`, `log_sql`,
`notices_sql`, `proposals_sql`, `posts_sql`, `groups_sql`, `official_sql`, `sync_sql`,
`erasure_sql`, `health_sql`, `idempotency_sql`, `outbox_sql`, `webhooks_sql`, `platforms_sql`,
`miniprograms_sql`, `holds_sql`, `cleanup_sql`, and `bulk` for imports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from hushan.store.audit_sql import AuditSql, nothing
from hushan.store.auth_sql import AuthSql
from hushan.store.base import Tx
from hushan.store.bulk import BulkImportSql
from hushan.store.cleanup_sql import CleanupSql
from hushan.store.conversations_sql import ConversationsSql
from hushan.store.erasure_sql import ErasureSql
from hushan.store.groups_sql import GroupsSql
from hushan.store.health_sql import HealthSql
from hushan.store.holds_sql import HoldsSql
from hushan.store.idempotency_sql import IdempotencySql
from hushan.store.log_sql import LogSql
from hushan.store.miniprograms_sql import MiniProgramsSql
from hushan.store.notices_sql import NoticesSql
from hushan.store.official_sql import OfficialSql
from hushan.store.orgs_sql import OrgsSql
from hushan.store.pairs_sql import PairsSql
from hushan.store.posts_sql import PostsSql
from hushan.store.proposals_sql import ProposalsSql
from hushan.store.requests_sql import RequestsSql
from hushan.store.sync_sql import SyncSql
from hushan.store.users_sql import UsersSql
from hushan.store.webhooks_sql import WebhooksSql


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What `SqlTx` needs of a DB-API connection, with `?` placeholders."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class SqlTx(
    UsersSql,
    AuthSql,
    PairsSql,
    RequestsSql,
    ConversationsSql,
    AuditSql,
    LogSql,
    BulkImportSql,
    NoticesSql,
    ProposalsSql,
    PostsSql,
    GroupsSql,
    OfficialSql,
    OrgsSql,
    SyncSql,
    ErasureSql,
    HealthSql,
    IdempotencySql,
    WebhooksSql,
    MiniProgramsSql,
    HoldsSql,
    CleanupSql,
    Tx,
):
    """`before_sequencing` runs once, right before the transaction's audit entries are
    numbered: a backend whose writers run side by side takes the lock there that keeps the
    numbering in commit order (see `PostgresStore`)."""

    def __init__(self, conn: Connection, before_sequencing: Callable[[], None] = nothing) -> None:
        self._c = conn
        self._before_sequencing = before_sequencing
        self._audit: list[tuple[Any, ...]] = []
        self._revoked: list[tuple[str, str, str]] = []

    def _insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Many rows at once; a backend with a faster bulk path (COPY) overrides this."""
        marks = ", ".join("?" * len(columns))
        self._c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
