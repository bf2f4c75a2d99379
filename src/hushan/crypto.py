"""Encryption at rest: a deployment key wraps one data key per conversation (crypto-shredding).

Message bodies are sealed with AES-256-GCM under their conversation's data key. The data key is
stored only wrapped (AES-256-GCM under the deployment key, bound to the conversation id), so
deleting the wrapped key makes every copy of that conversation's ciphertext unreadable, backups
included. The deployment key lives in a file outside the database, mode 0600. Webhook signing
secrets are sealed under it too (`Sealer.seal_secret`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_KEY = 32


class KeyFileError(Exception):
    """The deployment key file is unreadable, malformed or readable by others."""


def private_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of a secret file, creating it with `make()` (mode 0600) if it is missing.

    Creation is atomic: the bytes are written and synced to a temporary file that is then
    hard-linked into place, so a crash never leaves an empty or half-written secret, and two
    processes starting at once agree on one. An existing file readable by others is refused.
    """
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:  # mkstemp creates it 0600
                f.write(make())
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"The key file {path.name} is readable by others (mode {mode:o}); chmod 600 it."
        )
    return path.read_bytes()


def load_or_create_deployment_key(path: Path) -> bytes:
    """Read the deployment key, creating it on first start (never overwritten)."""
    key = private_file(path, lambda: AESGCM.generate_key(bit_length=256))
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

    def seal_secret(self, secret: bytes, owner: str) -> bytes:
        """A secret kept at rest (a webhook endpoint's signing key), sealed under the
        deployment key and bound to its owner's id, so a database dump alone neither reads it
        nor can move it to another owner."""
        nonce = os.urandom(_NONCE)
        return nonce + self._wrapper.encrypt(nonce, secret, _secret_aad(owner))

    def open_secret(self, sealed: bytes, owner: str) -> bytes:
        return self._wrapper.decrypt(sealed[:_NONCE], sealed[_NONCE:], _secret_aad(owner))

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


def _secret_aad(owner: str) -> bytes:
    return b"hushan/secret/" + owner.encode()


def _body_aad(conversation_id: int) -> bytes:
    return b"hushan/body/" + str(conversation_id).encode()
