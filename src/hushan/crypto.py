"""Encryption at rest: a deployment key wraps one data key per conversation (crypto-shredding).

Message bodies are sealed with AES-256-GCM under their conversation's data key. The data key is
stored only wrapped (AES-256-GCM under the deployment key, bound to the conversation id), so
deleting the wrapped key makes every copy of that conversation's ciphertext unreadable, backups
included. The deployment key lives in a file outside the database, mode 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_KEY = 32


class KeyFileError(Exception):
    """The deployment key file is unreadable, malformed or readable by others."""


def load_or_create_deployment_key(path: Path) -> bytes:
    """Read the deployment key, creating it (mode 0600, never overwritten) on first start."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"The key file {path.name} is readable by others (mode {mode:o}); chmod 600 it."
            ) from None
        key = path.read_bytes()
    else:
        key = AESGCM.generate_key(bit_length=256)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
    if len(key) != _KEY:
        raise KeyFileError(f"The key file {path.name} does not hold a {_KEY}-byte key.")
    return key


class Sealer:
    """Wraps data keys under the deployment key and seals message bodies under data keys."""

    def __init__(self, deployment_key: bytes) -> None:
        self._wrapper = AESGCM(deployment_key)

    def new_wrapped_key(self, conversation_id: int) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        return nonce + self._wrapper.encrypt(nonce, data_key, _key_aad(conversation_id))

    def unwrap(self, wrapped: bytes, conversation_id: int) -> AESGCM:
        data_key = self._wrapper.decrypt(
            wrapped[:_NONCE], wrapped[_NONCE:], _key_aad(conversation_id)
        )
        return AESGCM(data_key)

    @staticmethod
    def seal(data_key: AESGCM, conversation_id: int, body: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + data_key.encrypt(nonce, body.encode(), _body_aad(conversation_id))

    @staticmethod
    def open(data_key: AESGCM, conversation_id: int, sealed: bytes) -> str:
        return data_key.decrypt(
            sealed[:_NONCE], sealed[_NONCE:], _body_aad(conversation_id)
        ).decode()


def _key_aad(conversation_id: int) -> bytes:
    return b"hushan/data-key/" + str(conversation_id).encode()


def _body_aad(conversation_id: int) -> bytes:
    return b"hushan/body/" + str(conversation_id).encode()
