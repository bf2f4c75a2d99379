"""The Alembic migrations make the schema, and later ones carry existing data forward."""

from __future__ import annotations

import sqlite3
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from hushan.store import migrate


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
