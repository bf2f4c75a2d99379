"""Encryption at rest: per-conversation data keys wrapped by the deployment key."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from hushan.bootstrap import admin_key
from hushan.config import Settings
from hushan.crypto import KeyFileError, Sealer, load_or_create_deployment_key, private_file


def test_seal_and_open_round_trip() -> None:
    sealer = Sealer(os.urandom(32))
    key = sealer.unwrap(sealer.new_wrapped_key(7), 7)
    sealed = sealer.seal(key, 7, "你好 hushan")
    assert b"hushan" not in sealed
    assert sealer.open(key, 7, sealed) == "你好 hushan"


def test_a_wrapped_key_is_bound_to_its_conversation() -> None:
    sealer = Sealer(os.urandom(32))
    wrapped = sealer.new_wrapped_key(7)
    with pytest.raises(InvalidTag):
        sealer.unwrap(wrapped, 8)


def test_a_body_is_bound_to_its_conversation() -> None:
    sealer = Sealer(os.urandom(32))
    key = sealer.unwrap(sealer.new_wrapped_key(7), 7)
    with pytest.raises(InvalidTag):
        sealer.open(key, 8, sealer.seal(key, 7, "x"))


def test_another_deployment_key_cannot_unwrap() -> None:
    wrapped = Sealer(os.urandom(32)).new_wrapped_key(1)
    with pytest.raises(InvalidTag):
        Sealer(os.urandom(32)).unwrap(wrapped, 1)


def test_deployment_key_is_created_once_private(tmp_path: Path) -> None:
    path = tmp_path / "k"
    first = load_or_create_deployment_key(path)
    assert load_or_create_deployment_key(path) == first and len(first) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary file left


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "k"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_deployment_key(path), range(16)))
    assert len(keys) == 1


def test_malformed_or_exposed_key_files_are_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    private_file(short, lambda: b"too short")
    with pytest.raises(KeyFileError, match="32-byte"):
        load_or_create_deployment_key(short)
    exposed = tmp_path / "exposed"
    exposed.write_bytes(os.urandom(32))
    exposed.chmod(0o640)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_or_create_deployment_key(exposed)


def test_admin_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}")
    key = admin_key(settings)
    assert len(key) >= 32 and admin_key(settings) == key
    assert settings.resolved_admin_key_file().stat().st_mode & 0o777 == 0o600
    assert admin_key(Settings(database_url="sqlite:///x.db", admin_key="given")) == "given"
