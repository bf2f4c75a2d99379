"""The CLI as an operator uses it: each command on a real database file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from hushan.bootstrap import build
from hushan.cli import app
from hushan.config import Settings
from tests.conftest import SERVERS, Backends, emptied

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


def test_a_login_link_holds_a_short_lived_token_of_the_user(db: Path) -> None:
    invoke("user", "create", "alice", "--db", str(db))
    base = "https://chat.example/hushan/"
    code, out = invoke(
        "user", "login-link", "alice", "--base-url", base, "--ttl", "120", "--db", str(db)
    )
    assert code == 0, out
    link = out.strip()
    assert link.startswith("https://chat.example/hushan/console/link#"), link
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    info = engine.authenticate_token(unquote(link.split("#", 1)[1]))
    assert info.user_id == "alice" and info.expires_at is not None
    assert info.expires_at - engine.clock.now() <= timedelta(seconds=120)
    engine.store.close()
    code, out = invoke("user", "login-link", "ghost", "--db", str(db))
    assert code == 1 and "user_not_found" in out
    code, out = invoke("user", "login-link", "alice", "--ttl", "5", "--db", str(db))
    assert code == 1 and "invalid_token_ttl" in out


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


def test_certificate_then_verify_offline(db: Path, tmp_path: Path) -> None:
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a", verification_required=False)
    engine.create_user("b", verification_required=False)
    engine.send_request("a", "b")
    engine.delete_contact("a", "b")
    engine.store.close()
    cert = tmp_path / "cert.json"
    code, out = invoke("certificate", "a", "b", "--out", str(cert), "--db", str(db))
    assert code == 0, out
    code, key = invoke("log", "key", "--db", str(db))
    assert code == 0 and key.startswith("hushan.local/log+")
    code, out = invoke("verify", str(cert), "--key", key.strip())
    assert code == 0 and "VALID" in out and "b_has_a" in out, out
    key_file = tmp_path / "log.pub"
    key_file.write_text(key)
    checkpoint = tmp_path / "checkpoint.note"
    code, note = invoke("log", "checkpoint", "--db", str(db))
    checkpoint.write_text(note)
    code, out = invoke("verify", str(cert), "--key", str(key_file), "--earlier", str(checkpoint))
    assert code == 0, out
    cert.write_bytes(cert.read_bytes().replace(b"b_has_a", b"a_has_b"))
    code, out = invoke("verify", str(cert), "--key", key.strip())
    assert code == 1 and "INVALID" in out and "signature" in out, out


def test_verify_states_the_time_and_says_current_stale_or_too_old(db: Path, tmp_path: Path) -> None:
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a", verification_required=False)
    engine.create_user("b", verification_required=False)
    engine.send_request("a", "b")
    engine.store.close()
    old, same, new = (tmp_path / f"{name}.json" for name in ("old", "same", "new"))
    invoke("certificate", "a", "b", "--out", str(old), "--db", str(db))
    invoke("certificate", "b", "a", "--out", str(same), "--db", str(db))
    _, key = invoke("log", "key", "--db", str(db))
    code, out = invoke("verify", str(old), "--key", key.strip(), "--max-age", "3600")
    assert code == 0 and "as of checkpoint" in out and "as the log's map holds it" in out, out
    code, out = invoke("verify", str(old), "--key", key.strip(), "--later", str(same))
    assert code == 0 and "current" in out, out
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.delete_contact("a", "b")  # the pair's fourth entry, after the three of befriending
    engine.store.close()
    invoke("certificate", "a", "b", "--out", str(new), "--db", str(db))
    code, out = invoke("verify", str(old), "--key", key.strip(), "--later", str(new))
    assert code == 0 and "stale: later entries exist (pair_n 4..4)" in out, out
    code, out = invoke("verify", str(old), "--key", key.strip(), "--max-age", "0")
    assert code == 1 and "INVALID certificate_too_old" in out, out


def test_a_witness_cosigns_the_log_and_verify_requires_it(db: Path, tmp_path: Path) -> None:
    import threading

    from hushan.tlog.note import Verifier
    from hushan.tlog.witness import Cosigner, Witness
    from hushan.tlog.witness_server import server

    code, public = invoke("witness", "key", "witness.example/w1", "--out", str(tmp_path / "w"))
    assert code == 0 and (tmp_path / "w").stat().st_mode & 0o077 == 0
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a", verification_required=False)
    engine.create_user("b", verification_required=False)
    engine.send_request("a", "b")
    engine.store.close()
    _, key = invoke("log", "key", "--db", str(db))
    cosigner = Cosigner.parse((tmp_path / "w").read_text())
    witness = Witness(cosigner, [Verifier.parse(key)], tmp_path / "state")
    httpd = server(witness, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}"
        code, out = invoke("log", "cosign", url, "--witness", public.strip(), "--db", str(db))
        assert code == 0 and "\u2014 witness.example/w1 " in out, out
        cert = tmp_path / "cert.json"
        invoke("certificate", "a", "b", "--out", str(cert), "--db", str(db))
        code, out = invoke("verify", str(cert), "--key", key.strip(), "--witness", public.strip())
        assert code == 0 and "cosigned by the 1 required" in out, out
        other = str(Cosigner.generate("witness.example/w2").public)
        code, out = invoke(
            "verify",
            str(cert),
            "--key",
            key.strip(),
            "--witness",
            public.strip(),
            "--witness",
            other,
        )
        assert code == 1 and "witness_cosignatures_too_few: 1 of 2" in out, out
        code, out = invoke("log", "cosign", url, "--witness", other, "--db", str(db))
        assert code == 1 and "did not cosign" in out, out
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_verify_with_a_wrong_key_or_missing_file_fails(tmp_path: Path) -> None:
    from hushan.tlog.note import Signer

    key = str(Signer.generate("x.example/log").verifier)
    code, out = invoke("verify", str(tmp_path / "missing.json"), "--key", key)
    assert code == 1 and "error" in out
    code, out = invoke("verify", str(tmp_path / "missing.json"), "--key", "not-a-key")
    assert code == 1 and "INVALID" in out


def test_log_export_writes_every_leaf_and_checkpoint(db: Path, tmp_path: Path) -> None:
    import json

    from hushan.tlog import merkle

    engine = build(Settings(database_url=f"sqlite:///{db}"))
    for user in ("a", "b", "c"):
        engine.create_user(user, verification_required=False)
    engine.send_request("a", "b")
    engine.send_request("b", "c")
    engine.block("c", "a")
    engine.store.close()
    code, _ = invoke("log", "checkpoint", "--db", str(db))
    out = tmp_path / "log.jsonl"
    code, printed = invoke("log", "export", "--out", str(out), "--db", str(db))
    assert code == 0, printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    leaves = [r["entry"].encode() for r in records if "leaf" in r]
    notes = [r for r in records if "checkpoint" in r]
    assert leaves and notes
    # The auditor's rebuild: every checkpoint's root from the exported leaves alone.
    nodes: dict[tuple[int, int], bytes] = {}
    for index, entry in enumerate(leaves):
        for level, position, digest in merkle.completed_nodes(
            index, merkle.leaf_hash(entry), lambda lv, i: nodes[lv, i]
        ):
            nodes[level, position] = digest
    for record in notes:
        root_line = record["note"].split("\n")[2]
        size = record["checkpoint"]
        import base64

        assert merkle.root(size, lambda lv, i: nodes[lv, i]) == base64.b64decode(root_line)


def test_log_checkpoint_on_an_empty_log_says_so(db: Path) -> None:
    code, out = invoke("log", "checkpoint", "--db", str(db))
    assert code == 1 and "log_empty" in out


def test_worker_keeps_the_log_current_and_stops_on_sigterm(db: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a", verification_required=False)
    engine.create_user("b", verification_required=False)
    argv = [sys.executable, "-m", "hushan.cli", "worker", "--db", str(db), "--interval", "0.1"]
    worker = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        engine.send_request("a", "b")
        engine.delete_contact("a", "b")
        wanted = engine.audit_log(0, 1000)[-1].seq
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            latest = engine.log.latest_checkpoint()
            size, covered = engine.log.head()
            if latest is not None and covered == wanted and latest.size == size:
                break
            time.sleep(0.05)
        # Every entry is in the tree, and the last checkpoint signs it all (its map-root leaf
        # last).
        assert latest is not None and covered == wanted and latest.size == size
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        engine.store.close()
    assert worker.returncode == 0, output
    assert b"hushan worker stopped" in output


def test_commands_on_either_backend_by_url(
    backend: Backends, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HUSHAN_DATABASE_URL picks the backend; key files land beside an SQLite file, or in the
    working directory with PostgreSQL."""
    monkeypatch.chdir(tmp_path)
    if backend.name in SERVERS:
        url = emptied(backend.shared_database())
        keys = tmp_path / "hushan.key"
    else:
        url = f"sqlite:///{tmp_path / 'by-url.db'}"
        keys = tmp_path / "by-url.db.key"
    monkeypatch.setenv("HUSHAN_DATABASE_URL", url)
    assert invoke("user", "create", "alice")[0] == 0
    assert invoke("user", "create", "bob", "--no-verification")[0] == 0
    engine = build(Settings())
    engine.send_request("alice", "bob")
    engine.store.close()
    code, out = invoke("pair", "alice", "bob")
    assert code == 0 and "both_way" in out, out
    assert keys.stat().st_mode & 0o777 == 0o600
    code, out = invoke("log", "checkpoint")
    assert code == 0 and "hushan.local/log" in out, out


def test_credentials_are_created_rotated_listed_and_revoked(db: Path) -> None:
    code, out = invoke(
        "credentials",
        "create",
        "backend",
        "--scope",
        "users:act",
        "--scope",
        "tokens:mint",
        "--db",
        str(db),
    )
    assert code == 0 and "secret: hsk_" in out
    credential_id = out.split()[1]
    first = out.split("secret:")[1].strip()
    code, out = invoke("credentials", "rotate", credential_id, "--overlap", "60", "--db", str(db))
    assert code == 0 and "new secret: hsk_" in out
    second = out.split("new secret:")[1].strip()
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    assert {engine.authenticate_service(s).id for s in (first, second)} == {credential_id}
    engine.store.close()
    code, out = invoke("credentials", "list", "--db", str(db))
    assert code == 0 and credential_id in out and "tokens:mint,users:act" in out
    assert first not in out and second not in out and "revoked=-" in out
    assert "previous_secret_until=-" not in out
    code, out = invoke("credentials", "revoke", credential_id, "--db", str(db))
    assert (code, out.strip()) == (0, f"revoked: {credential_id}")
    code, out = invoke("credentials", "list", "--db", str(db))
    assert "revoked=-" not in out
    code, out = invoke("credentials", "rotate", credential_id, "--db", str(db))
    assert code == 1 and "credential_not_found" in out
    code, out = invoke("credentials", "create", " padded", "--scope", "users:act", "--db", str(db))
    assert code == 1 and "invalid_credential_name" in out
    code, out = invoke("credentials", "create", "x", "--scope", "root", "--db", str(db))
    assert code == 2
