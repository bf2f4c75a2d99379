"""Shared fixtures: a migrated SQLite template copied per test, and an engine on a manual clock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hushan.clock import ManualClock
from hushan.crypto import Sealer
from hushan.service import Hushan, Limits
from hushan.store import migrate
from hushan.store.sqlite import SqliteStore
from hushan.tlog.note import Signer
from tests.api_client import Api
from tests.server import Server


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def fresh_engine(template: Path, directory: Path, limits: Limits | None = None) -> Hushan:
    """A new engine on a copy of the migrated template (far faster than migrating each time)."""
    path = directory / "hushan.db"
    shutil.copyfile(template, path)
    signer = Signer.generate("test.hushan/log")
    return Hushan(SqliteStore(path), Sealer(os.urandom(32)), signer, ManualClock(), limits)


@pytest.fixture
def engine(template_db: Path, tmp_path: Path) -> Iterator[Hushan]:
    hushan = fresh_engine(template_db, tmp_path)
    yield hushan
    hushan.store.close()


@pytest.fixture
def clock(engine: Hushan) -> ManualClock:
    assert isinstance(engine.clock, ManualClock)
    return engine.clock


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `hushan serve` process shared by one test module."""
    running = Server(tmp_path_factory.mktemp("server")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[Api]:
    with Api(server.url) as client:
        yield client
