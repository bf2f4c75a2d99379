"""The Alembic migrations make the schema, and later ones carry existing data forward."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from hushan.store import migrate
from tests.conftest import POSTGRES


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("hushan") / "migrations"))
    return config


def _alembic(url: str, step: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            getattr(command, step)(config, revision)
    finally:
        engine.dispose()


def _indexes(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        db.close()


def test_every_migration_goes_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.db'}"
    migrate.upgrade(url)
    assert "ix_audit_pair" not in _indexes(tmp_path / "db.db")
    _alembic(url, "downgrade", "0002")
    assert "ix_audit_pair" in _indexes(tmp_path / "db.db")
    _alembic(url, "downgrade", "base")
    assert _indexes(tmp_path / "db.db") <= {"sqlite_autoindex_alembic_version_1"}
    migrate.upgrade(url)
    assert "ix_audit_pair" not in _indexes(tmp_path / "db.db")


def test_contact_count_is_backfilled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _alembic(url, "upgrade", "0001")
    db = sqlite3.connect(tmp_path / "old.db")
    db.executemany(
        "INSERT INTO users (id, display_name, verification_required, created_at)"
        " VALUES (?, ?, 1, 0)",
        [("a", "a"), ("b", "b"), ("c", "c")],
    )
    db.executemany(
        "INSERT INTO edges (owner_id, contact_id, created_at) VALUES (?, ?, 0)",
        [("a", "b"), ("a", "c"), ("b", "a")],
    )
    db.commit()
    db.close()
    migrate.upgrade(url)
    migrate.upgrade(url)  # idempotent
    db = sqlite3.connect(tmp_path / "old.db")
    counts = dict(db.execute("SELECT id, contact_count FROM users").fetchall())
    db.close()
    assert counts == {"a": 2, "b": 1, "c": 0}


def _users_sql(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0])
    finally:
        db.close()


def test_users_are_read_in_one_descent_after_0005(tmp_path: Path) -> None:
    """SQLite: users becomes WITHOUT ROWID, keeping its rows; and back again."""
    url = f"sqlite:///{tmp_path / 'db.db'}"
    _alembic(url, "upgrade", "0004")
    db = sqlite3.connect(tmp_path / "db.db")
    db.execute("INSERT INTO users VALUES ('a', 'Alice', 1, 5, 2)")
    db.commit()
    db.close()
    migrate.upgrade(url)
    assert "WITHOUT ROWID" in _users_sql(tmp_path / "db.db")
    _alembic(url, "downgrade", "0004")
    assert "WITHOUT ROWID" not in _users_sql(tmp_path / "db.db")
    migrate.upgrade(url)
    db = sqlite3.connect(tmp_path / "db.db")
    kept = db.execute(
        "SELECT id, display_name, verification_required, created_at, contact_count FROM users"
    ).fetchall()
    assert kept == [("a", "Alice", 1, 5, 2)]
    db.close()


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL is not reachable")
def test_postgres_migrations_go_down_and_up_again(new_pg_database: Callable[[], str]) -> None:
    url = new_pg_database()  # at head
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO users VALUES ('a', 'Alice', TRUE, 5, 2)")
    _alembic(migrate.sqlalchemy_url(url), "downgrade", "base")
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
        assert {"ix_users_display_name", "ix_conversations_pair"} <= indexes
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_tokens_from_before_0012_get_an_id_and_expire_a_month_after_the_upgrade(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.db'}"
    _alembic(url, "upgrade", "0011")
    db = sqlite3.connect(tmp_path / "db.db")
    db.execute("INSERT INTO tokens VALUES (?, 'a', 0)", ("ab" * 32,))
    db.commit()
    db.close()
    before = int(time.time() * 1_000_000)
    migrate.upgrade(url)
    db = sqlite3.connect(tmp_path / "db.db")
    row = db.execute("SELECT id, expires_at, last_used_at FROM tokens").fetchone()
    db.close()
    month = 30 * 86400 * 1_000_000
    assert row[0] == "ab" * 8 and row[2] is None
    assert before + month <= row[1] <= int(time.time() * 1_000_000) + month
