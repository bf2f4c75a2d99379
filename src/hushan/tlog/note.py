"""Signed notes (C2SP `signed-note`, the format of Go's `golang.org/x/mod/sumdb/note`) with
Ed25519 keys, and the checkpoints (C2SP `tlog-checkpoint`) they carry.

A signed note is its text (UTF-8 lines, ending in a newline), a blank line, then one line per
signature: an em dash, the key name, and base64 of the 4-byte key hash followed by the
signature over the text. Key strings are the ones Go's tools print and read:
`name+hash+base64(0x01 || public key)` for verifiers and `PRIVATE+KEY+name+hash+base64(0x01 ||
seed)` for signers, so a hushan key works in existing transparency-log tooling and back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 1
_DASH = "\u2014 "
_SIZE = re.compile("0|[1-9][0-9]*", re.ASCII)
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")  # every control character but newline


class NoteError(Exception):
    """A note, key or checkpoint is malformed or not signed by the expected key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("key_name_invalid")


def _b64decode(text: str, reason: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(reason) from None


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    name: str
    key: Ed25519PublicKey

    @property
    def key_hash(self) -> bytes:
        return _key_hash(self.name, _raw_public(self.key))

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + _raw_public(self.key)).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)  # base64 may hold "+" too
        if len(parts) != 3:
            raise NoteError("verifier_key_malformed")
        name, hash_hex, encoded = parts
        _check_name(name)
        raw = _b64decode(encoded, "verifier_key_malformed")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier_key_unsupported")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_hash.hex() != hash_hex.lower() or len(hash_hex) != 8:
            raise NoteError("verifier_key_hash_mismatch")
        return verifier

    def open(self, message: str) -> str:
        """The text of `message` if this key signed it; NoteError otherwise."""
        text, signatures = split_note(message)
        try:
            signed = text.encode()
        except UnicodeError:  # a lone surrogate: no UTF-8 text, so nothing was signed
            raise NoteError("note_text_not_utf8") from None
        for name, blob in signatures:
            if name == self.name and blob[:4] == self.key_hash:
                try:
                    self.key.verify(blob[4:], signed)
                except InvalidSignature:
                    raise NoteError("signature_invalid") from None
                return text
        raise NoteError("signature_missing_for_key")


@dataclass(frozen=True)
class Signer:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key.public_key())

    def __str__(self) -> str:
        seed = self.key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("signer_key_malformed")
        name, hash_hex, encoded = parts[2:]
        _check_name(name)
        raw = _b64decode(encoded, "signer_key_malformed")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer_key_unsupported")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_hash.hex() != hash_hex.lower():
            raise NoteError("signer_key_hash_mismatch")
        return signer

    def signature_line(self, text: str) -> str:
        check_text(text)
        blob = self.verifier.key_hash + self.key.sign(text.encode())
        return f"{_DASH}{self.name} {base64.b64encode(blob).decode()}\n"

    def sign(self, text: str) -> str:
        return f"{text}\n{self.signature_line(text)}"


def check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note_text_must_end_in_newline")
    if _CONTROL.search(text):
        raise NoteError("note_text_has_control_characters")


def split_note(message: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(key name, hash || signature)]) of a signed note, checking its shape."""
    if not message.endswith("\n"):
        raise NoteError("note_malformed")
    cut = message.rfind("\n\n")
    if cut < 0:
        raise NoteError("note_malformed")
    text, block = message[: cut + 1], message[cut + 2 :]
    check_text(text)
    lines = block.split("\n")[:-1]  # newline only, as Go splits; the block ends in one
    if not lines:
        raise NoteError("note_unsigned")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteError("note_signature_line_malformed")
        name, space, encoded = line[len(_DASH) :].partition(" ")
        _check_name(name)
        blob = _b64decode(encoded, "note_signature_line_malformed")
        if not space or len(blob) < 5:
            raise NoteError("note_signature_line_malformed")
        signatures.append((name, blob))
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash (plus extension lines)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("checkpoint_malformed")
        origin, size_text, root_text = lines[:3]
        if _SIZE.fullmatch(size_text) is None or int(size_text) >= 1 << 64:
            raise NoteError("checkpoint_size_malformed")
        root = _b64decode(root_text, "checkpoint_root_malformed")
        if len(root) != 32 or (size_text == "0" and root != hashlib.sha256(b"").digest()):
            raise NoteError("checkpoint_root_malformed")
        return cls(origin, int(size_text), root, tuple(lines[3:-1]))


def open_checkpoint(message: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """The checkpoint in a signed note, checked against the key and (if given) the origin."""
    checkpoint = Checkpoint.parse(verifier.open(message))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError("checkpoint_origin_mismatch")
    return checkpoint
