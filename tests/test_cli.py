"""The CLI as an operator uses it: each command on a real database file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hushan.bootstrap import build
from hushan.cli import app
from hushan.config import Settings

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_user_create_prints_a_token_and_refuses_duplicates(db: Path) -> None:
    code, out = invoke("user", "create", "alice", "--db", str(db))
    assert code == 0 and "token:" in out
    token = out.split("token:")[1].strip()
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    assert engine.authenticate(token) == "alice"
    engine.store.close()
    code, out = invoke("user", "create", "alice", "--db", str(db))
    assert code == 1 and "user_exists" in out


def test_key_file_is_created_private(db: Path) -> None:
    invoke("user", "create", "alice", "--db", str(db))
    key = db.with_name(db.name + ".key")
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32


def test_pair_shows_the_servers_view(db: Path) -> None:
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a")
    engine.create_user("b", verification_required=False)
    engine.send_request("a", "b")
    engine.delete_contact("b", "a")
    engine.store.close()
    code, out = invoke("pair", "a", "b", "--db", str(db))
    assert code == 0 and "a_has_b" in out and "active" in out and "present" in out
    code, out = invoke("pair", "a", "ghost", "--db", str(db))
    assert code == 1 and "user_not_found" in out


def test_purge_runs_one_sweep(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUSHAN_BUFFER_SECONDS", "0.001")
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a")
    engine.create_user("b", verification_required=False)
    engine.send_request("a", "b")
    engine.send_message("a", "b", "soon gone")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    engine.store.close()
    code, out = invoke("purge", "--db", str(db))
    assert code == 0 and "keys destroyed 1" in out and "rows deleted 1" in out
    code, out = invoke("pair", "a", "b", "--db", str(db))
    assert "purged" in out and "destroyed" in out


def test_demo_walks_all_three_ways() -> None:
    code, out = invoke("demo")
    assert code == 0
    for text in (
        "one-way delete",
        "mutual delete",
        "block, then delete",
        "recipient_removed_you",
        "buffered",
        "purged",
        "blocked_by_recipient",
    ):
        assert text in out


def test_refuses_a_key_file_others_can_read(db: Path) -> None:
    key = db.with_name(db.name + ".key")
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)
    code, out = invoke("user", "create", "alice", "--db", str(db))
    assert code == 1 and "readable by others" in out
