"""Bring a database to the latest schema with Alembic (the only way the schema is made)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine


def sqlalchemy_url(database_url: str) -> str:
    """hushan's URL as SQLAlchemy names it: PostgreSQL through psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def upgrade(database_url: str, citus: bool | None = None) -> None:
    """Run every pending migration on the database at `database_url` (idempotent). `citus`:
    whether it is a Citus coordinator's, to distribute the schema on (None: HUSHAN_CITUS)."""
    config = Config()
    config.set_main_option("script_location", str(files("hushan") / "migrations"))
    if citus is not None:
        config.attributes["citus"] = citus
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
