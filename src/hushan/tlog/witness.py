"""Witness cosignatures (C2SP `tlog-cosignature`, cosignature/v1: Ed25519 with a timestamp) and
the witness that makes them (C2SP `tlog-witness`, its `add-checkpoint` call).

A witness is run by someone other than the log. It keeps, per log origin, the last checkpoint it
cosigned, and cosigns a new one only when a consistency proof shows the new tree extends that
one: a log that shows a fork (another tree of the same or a larger size that does not extend
the cosigned one) gets no cosignature, so a verifier that asks for cosignatures from witnesses it
trusts cannot be shown a view the witnesses have not all seen grow from the same history.

A cosignature is a signed-note signature line over `cosignature/v1\\ntime <T>\\n` followed by the
checkpoint body; its 4-byte key id is `SHA-256(name || "\\n" || 0x04 || public key)[:4]` and its
signature is the 8-byte big-endian timestamp followed by the Ed25519 signature. Keys are
written as Go's note keys are, with algorithm byte 0x04: `name+id+base64(0x04 || public key)`
and `PRIVATE+KEY+name+id+base64(0x04 || seed)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hushan.tlog import merkle
from hushan.tlog.note import Checkpoint, NoteError, Verifier, split_note

ALG_COSIGNATURE_V1 = 4
_DASH = "\u2014 "
MAX_PROOF_LINES = 63


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public).digest()[:4]


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _decoded(text: str, reason: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(reason) from None


def signed_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: its header, its time, then the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class WitnessKey:
    """A witness's public key, as a verifier configures it."""

    name: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, _raw(self.key))

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + _raw(self.key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not parts[0]:
            raise NoteError("witness_key_malformed")
        name, id_hex, encoded = parts
        raw = _decoded(encoded, "witness_key_malformed")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("witness_key_malformed")
        found = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if found.key_id.hex() != id_hex.lower():
            raise NoteError("witness_key_malformed")
        return found

    def cosigned_at(self, note: str) -> int | None:
        """The time of this witness's valid cosignature on the checkpoint note, if it has one."""
        body, signatures = split_note(note)
        for name, blob in signatures:
            if name != self.name or blob[:4] != self.key_id or len(blob) != 4 + 8 + 64:
                continue
            timestamp = int.from_bytes(blob[4:12])
            try:
                self.key.verify(blob[12:], signed_message(body, timestamp))
            except InvalidSignature:
                continue
            return timestamp
        return None


@dataclass(frozen=True)
class Cosigner:
    """A witness's private key."""

    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise NoteError("key_name_invalid")
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def public(self) -> WitnessKey:
        return WitnessKey(self.name, self.key.public_key())

    def __str__(self) -> str:
        seed = self.key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.public.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Cosigner:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("witness_key_malformed")
        raw = _decoded(parts[4], "witness_key_malformed")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise NoteError("witness_key_malformed")
        found = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if found.public.key_id.hex() != parts[3].lower():
            raise NoteError("witness_key_malformed")
        return found

    def cosign(self, body: str, timestamp: int) -> str:
        """The cosignature line for a checkpoint body at `timestamp` (seconds since the epoch)."""
        signature = self.key.sign(signed_message(body, timestamp))
        blob = self.public.key_id + timestamp.to_bytes(8) + signature
        return f"{_DASH}{self.name} {base64.b64encode(blob).decode()}\n"


def count_cosigned(note: str, witnesses: Sequence[WitnessKey]) -> int:
    """How many of `witnesses` validly cosigned the checkpoint note."""
    return sum(1 for w in witnesses if w.cosigned_at(note) is not None)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: str


class Witness:
    """The add-checkpoint call of C2SP tlog-witness, over a state file of the last checkpoint
    cosigned per origin. Checking the old size and recording the new checkpoint happen under
    one lock, and the record is on disk (written whole, then renamed) before the reply."""

    def __init__(self, cosigner: Cosigner, logs: Sequence[Verifier], state: Path) -> None:
        self.cosigner = cosigner
        self.logs = {log.name: log for log in logs}
        self.state = state
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, object]]:
        if not self.state.exists():
            return {}
        found: dict[str, dict[str, object]] = json.loads(self.state.read_text())
        return found

    def _save(self, state: dict[str, dict[str, object]]) -> None:
        temporary = self.state.with_name(self.state.name + ".tmp")
        temporary.write_text(json.dumps(state, sort_keys=True))
        os.replace(temporary, self.state)

    def add_checkpoint(self, request: str, now: int) -> Reply:
        try:
            old_size, proof, note = _parse_request(request)
            body, _ = split_note(note)
            checkpoint = Checkpoint.parse(body)
        except (NoteError, ValueError):
            return Reply(400, "text/plain", "malformed request\n")
        log = self.logs.get(checkpoint.origin)
        if log is None:
            return Reply(404, "text/plain", "unknown log\n")
        try:
            log.open(note)
        except NoteError:
            return Reply(403, "text/plain", "no signature from a key the witness trusts\n")
        if old_size > checkpoint.size:
            return Reply(400, "text/plain", "old size beyond the checkpoint\n")
        with self._lock:
            state = self._load()
            seen = state.get(checkpoint.origin)
            seen_size = 0 if seen is None else int(str(seen["size"]))
            if old_size != seen_size:
                return Reply(409, "text/x.tlog.size", f"{seen_size}\n")
            if seen is not None:
                seen_root = base64.b64decode(str(seen["root"]))
                try:
                    merkle.verify_consistency(
                        seen_size, checkpoint.size, seen_root, checkpoint.root, proof
                    )
                except merkle.ProofError as error:
                    # The same size with another root is a fork outright; a larger tree whose
                    # proof fails does not extend what was cosigned.
                    same = seen_size == checkpoint.size
                    return Reply(409 if same else 422, "text/plain", f"{error.reason}\n")
            elif proof:
                return Reply(422, "text/plain", "a proof from size 0 must be empty\n")
            state[checkpoint.origin] = {
                "size": checkpoint.size,
                "root": base64.b64encode(checkpoint.root).decode(),
            }
            self._save(state)
        return Reply(200, "text/plain", self.cosigner.cosign(body, now))


def add_checkpoint_request(old_size: int, proof: Sequence[bytes], note: str) -> str:
    """The body of an add-checkpoint request."""
    lines = [f"old {old_size}", *(base64.b64encode(p).decode() for p in proof)]
    return "\n".join(lines) + "\n\n" + note


def _parse_request(request: str) -> tuple[int, list[bytes], str]:
    head, separator, note = request.partition("\n\n")
    if not separator:
        raise ValueError("no blank line")
    first, *proof_lines = head.split("\n")
    word, _, size_text = first.partition(" ")
    if word != "old" or not size_text.isascii() or not size_text.isdigit():
        raise ValueError("no old size")
    if size_text != str(int(size_text)) or len(proof_lines) > MAX_PROOF_LINES:
        raise ValueError("old size or proof malformed")
    proof = [_decoded(line, "proof_malformed") for line in proof_lines]
    if any(len(p) != merkle.HASH_SIZE for p in proof):
        raise ValueError("proof hash length")
    return int(size_text), proof, note
