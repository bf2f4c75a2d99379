"""Deletion certificates: their format, and the offline check anyone can run on one.

A certificate file is canonical JSON (sorted keys, no spaces) of `{"body": ..., "signature":
...}`, ending in one newline. `signature` is a signed-note signature line over the canonical
body plus a newline, so the certificate is a signed note in JSON clothing and any byte changed
anywhere in the file fails the check. The body carries the claims, every log entry of the pair
up to a signed checkpoint with its inclusion proof, that checkpoint, and (when the pair had an
earlier certificate) the earlier checkpoint with a consistency proof linking the two.

`verify` needs only the file and the deployment's public key: no server, no database.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from hushan.clock import iso_utc
from hushan.tlog import entries as e
from hushan.tlog import maproot, merkle, smt
from hushan.tlog.note import Checkpoint, NoteError, Verifier, open_checkpoint
from hushan.tlog.witness import WitnessKey, count_cosigned

FORMAT = "hushan-deletion-certificate/2"
# Issued before the map: verified by the rules of its day, with no map and no time.
FORMAT_1 = "hushan-deletion-certificate/1"


class LegalBasis(StrEnum):
    USER_REQUEST = "user_request"
    PIPL_ART_47 = "pipl_art_47"
    GDPR_ART_17 = "gdpr_art_17"


class CertificateError(Exception):
    """The certificate fails the check; `reason` is a stable code, `detail` says where."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def claims_json(state: e.PairState) -> dict[str, Any]:
    """The claims a certificate states about a pair, from `a`'s side. `legal_hold` is there
    only for a pair whose entries ever named a legal hold: whether one covers its history now
    (so every certificate issued before holds existed reads, and verifies, as it did)."""
    claims: dict[str, Any] = {
        "relation": state.relation.value,
        "a_blocks_b": state.a_blocks_b,
        "b_blocks_a": state.b_blocks_a,
        "history_state": state.history_state,
        "purge_at": _time(state.purge_at),
        "key_destroyed_at": _time(state.key_destroyed_at),
        "key_destroyed_reason": state.key_destroyed_reason,
        "rows_purged_at": _time(state.rows_purged_at),
        "removals": [{"by": by, "of": of, "at": iso_utc(at)} for by, of, at in state.removals],
        "history": [
            {
                "state": past.state,
                "purge_at": _time(past.purge_at),
                "key_destroyed_at": _time(past.key_destroyed_at),
                "key_destroyed_reason": past.key_destroyed_reason,
                "rows_purged_at": _time(past.rows_purged_at),
            }
            for past in state.history
        ],
    }
    if state.legal_hold is not None:
        claims["legal_hold"] = state.legal_hold
    return claims


def encode_proof(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(p).decode() for p in proof]


def _decode_proof(value: Any, where: str) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise CertificateError("proof_malformed", where)
    try:
        return [base64.b64decode(p, validate=True) for p in value]
    except (binascii.Error, ValueError):
        raise CertificateError("proof_malformed", where) from None


def signed_file(body: dict[str, Any], signature_line: str) -> bytes:
    return (e.canonical_json({"body": body, "signature": signature_line}) + "\n").encode()


def body_text(body: dict[str, Any]) -> str:
    return e.canonical_json(body) + "\n"


def encode_map_proof(proof: smt.Proof) -> dict[str, Any]:
    return {
        "depth": proof.depth,
        "present": proof.present.to_bytes(smt.KEY_BITS // 8).hex(),
        "siblings": encode_proof(list(proof.siblings)),
    }


@dataclass(frozen=True)
class Verdict:
    holder: str
    other: str
    checkpoint: Checkpoint
    entries: int
    claims: dict[str, Any]
    disclosed: dict[str, str] | None
    # From the map-root leaf (format 2): the checkpoint's time and the pair's latest pair_n
    # there; None for a certificate of format 1, which binds neither.
    time: datetime | None = None
    latest_pair_n: int | None = None
    freshness: str | None = None  # with `later`: "current" or "stale: ..."

    @property
    def map_checked(self) -> bool:
        return self.latest_pair_n is not None


BODY_KEYS_1 = {
    "format",
    "origin",
    "issued_at",
    "pair",
    "claims",
    "scope",
    "legal_basis",
    "entries",
    "checkpoint",
    "previous",
    "earlier",
    "disclosure",
}
BODY_KEYS = BODY_KEYS_1 | {"map"}


def verify(
    data: bytes,
    verifier: Verifier,
    earlier_checkpoint: str | None = None,
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
    later: bytes | None = None,
    witnesses: Sequence[WitnessKey] = (),
    witness_threshold: int | None = None,
) -> Verdict:
    """Check a certificate completely; CertificateError names the first thing that fails.

    With `max_age`, refuse one whose checkpoint is older than that at `now` (the
    current time when not given). With `later`,
    a certificate of the same pair issued later: check it too, and say whether this one is
    still current (the pair's latest entry unchanged) or stale. With `witnesses`, require
    valid cosignatures on the checkpoint from `witness_threshold` of them (all by default)."""
    verdict = _verify(data, verifier, earlier_checkpoint)
    if witnesses:
        wanted = len(witnesses) if witness_threshold is None else witness_threshold
        note = json.loads(data)["body"]["checkpoint"]  # checked by `_verify` above
        found = count_cosigned(note, witnesses)
        if found < wanted:
            raise CertificateError("witness_cosignatures_too_few", f"{found} of {wanted}")
    if (max_age is not None or later is not None) and verdict.time is None:
        raise CertificateError("certificate_has_no_time")
    moment = datetime.now(UTC) if now is None else now
    if max_age is not None and verdict.time is not None and moment - verdict.time > max_age:
        raise CertificateError("certificate_too_old", f"as of {iso_utc(verdict.time)}")
    if later is None:
        return verdict
    return _compared(verdict, later, verifier)


def _compared(verdict: Verdict, later: bytes, verifier: Verifier) -> Verdict:
    try:
        newer = _verify(later, verifier, None)
    except CertificateError as error:
        raise CertificateError("later_certificate_invalid", str(error)) from None
    if newer.latest_pair_n is None:
        raise CertificateError("certificate_has_no_time", "later")
    if {newer.holder, newer.other} != {verdict.holder, verdict.other}:
        raise CertificateError("later_certificate_not_of_this_pair")
    if newer.checkpoint.size < verdict.checkpoint.size:
        raise CertificateError("later_certificate_is_older")
    mine = verdict.latest_pair_n or 0
    if newer.latest_pair_n == mine:
        freshness = "current"
    else:
        freshness = f"stale: later entries exist (pair_n {mine + 1}..{newer.latest_pair_n})"
    return replace(verdict, freshness=freshness)


def _verify(data: bytes, verifier: Verifier, earlier_checkpoint: str | None) -> Verdict:
    body = _signed_body(data, verifier)
    if set(body) != (BODY_KEYS_1 if body.get("format") == FORMAT_1 else BODY_KEYS):
        raise CertificateError("body_fields_wrong")
    if body["format"] not in (FORMAT, FORMAT_1):
        raise CertificateError("format_unknown", str(body["format"]))
    if body["origin"] != verifier.name:
        raise CertificateError("origin_is_not_the_key_name")
    try:
        LegalBasis(body["legal_basis"])
        e.parse_time(body["issued_at"], "issued_at_malformed")
    except (ValueError, TypeError):
        raise CertificateError("legal_basis_unknown") from None
    except e.EntryError as error:
        raise CertificateError(error.reason) from None
    checkpoint = _checkpoint(body["checkpoint"], verifier, body["origin"], "checkpoint")
    pair = body["pair"]
    if not isinstance(pair, dict) or set(pair) != {"a", "b"}:
        raise CertificateError("pair_malformed")
    a, b = pair["a"], pair["b"]
    if not (e.is_ref(a) and e.is_ref(b) and a != b):
        raise CertificateError("pair_malformed")
    logged = _included_entries(body["entries"], checkpoint)
    try:
        state = e.replay(logged, a, b)
    except e.EntryError as error:
        raise CertificateError(error.reason) from None
    claims, derived = body["claims"], claims_json(state)
    if body["format"] == FORMAT_1:
        del derived["history"]  # format 1 had no earlier histories in its claims
    # Compared as canonical text: JSON's 0 and false must not pass for each other.
    if e.canonical_json(claims) != e.canonical_json(derived):
        field = next(
            (
                k
                for k in derived
                if not isinstance(claims, dict)
                or e.canonical_json(claims.get(k)) != e.canonical_json(derived[k])
            ),
            "claims",
        )
        raise CertificateError("claims_do_not_follow_from_entries", field)
    _check_scope(body["scope"], state.key_destroyed_at)
    linked = [checkpoint]
    previous = body["previous"]
    if previous is not None:
        if not isinstance(previous, dict) or set(previous) != {"checkpoint", "consistency"}:
            raise CertificateError("previous_malformed")
        older = _checkpoint(previous["checkpoint"], verifier, checkpoint.origin, "previous")
        _consistent(older, checkpoint, _decode_proof(previous["consistency"], "previous"))
        linked.append(older)
    carried = _carried_earlier(body["earlier"], checkpoint)
    if earlier_checkpoint is not None:
        # A checkpoint the caller kept: it must be this one, the previous certificate's (proven
        # above), or the size the certificate carries a consistency proof from.
        earlier = _checkpoint(earlier_checkpoint, verifier, checkpoint.origin, "earlier")
        if earlier not in linked:
            if carried is None or carried[0] != earlier.size:
                raise CertificateError("earlier_checkpoint_not_linked", f"size {earlier.size}")
            try:
                merkle.verify_consistency(
                    earlier.size, checkpoint.size, earlier.root, checkpoint.root, carried[1]
                )
            except merkle.ProofError as error:
                raise CertificateError(f"earlier_{error.reason}") from None
    disclosed = _disclosure(body["disclosure"], a, b)
    if body["format"] == FORMAT_1:
        return Verdict(a, b, checkpoint, len(logged), derived, disclosed)
    last = body["entries"][-1] if logged else None
    at, latest = _check_map(body["map"], checkpoint, smt.map_key(a, b), last)
    return Verdict(a, b, checkpoint, len(logged), derived, disclosed, at, latest)


MAP_KEYS = {"root_leaf", "key", "value", "proof"}
_HEX = re.compile("[0-9a-f]{64}", re.ASCII)


def _check_map(
    value: Any, checkpoint: Checkpoint, key: bytes, last: dict[str, Any] | None
) -> tuple[datetime, int]:
    """The map-root leaf is this checkpoint's, and the pair's value in its map is the
    certificate's last entry: (the checkpoint's time, the pair's latest pair_n)."""
    if not isinstance(value, dict) or set(value) != MAP_KEYS:
        raise CertificateError("map_malformed")
    found = _map_root(value["root_leaf"], checkpoint)
    if value["key"] != key.hex():
        raise CertificateError("map_value_of_another_pair")
    pair_n, index, leaf = _map_value(value["value"])
    try:
        smt.verify(key, smt.map_value(pair_n, index, leaf), _map_proof(value["proof"]), found.root)
    except smt.MapProofError as error:
        raise CertificateError(error.reason) from None
    shown = 0 if last is None else e.decode(last["entry"]).pair_n
    if pair_n > shown:
        raise CertificateError(
            "pair_entries_truncated", f"the map holds pair_n {pair_n}, the entries end at {shown}"
        )
    if last is None or (pair_n, index, leaf) != (
        shown,
        last["index"],
        merkle.leaf_hash(last["entry"].encode()),
    ):
        raise CertificateError("map_value_does_not_match_entries")
    return found.time, pair_n


def _map_root(value: Any, checkpoint: Checkpoint) -> maproot.MapRoot:
    if not isinstance(value, dict) or set(value) != {"index", "entry", "proof"}:
        raise CertificateError("map_malformed")
    index, text = value["index"], value["entry"]
    if type(index) is not int or not isinstance(text, str):
        raise CertificateError("map_malformed")
    if index != checkpoint.size - 1:
        raise CertificateError("map_root_of_another_checkpoint", f"leaf {index}")
    try:
        merkle.verify_inclusion(
            index,
            checkpoint.size,
            merkle.leaf_hash(text.encode()),
            _decode_proof(value["proof"], "map"),
            checkpoint.root,
        )
        found = maproot.decode(text)
    except merkle.ProofError as error:
        raise CertificateError("map_root_leaf_not_in_checkpoint", error.reason) from None
    except e.EntryError as error:
        raise CertificateError(error.reason) from None
    if found.size != index:
        raise CertificateError("map_root_of_another_checkpoint", f"size {found.size}")
    return found


def _map_value(value: Any) -> tuple[int, int, bytes]:
    if not isinstance(value, dict) or set(value) != {"pair_n", "index", "leaf_hash"}:
        raise CertificateError("map_malformed")
    pair_n, index = value["pair_n"], value["index"]
    if type(pair_n) is not int or type(index) is not int or pair_n < 1 or index < 0:
        raise CertificateError("map_malformed")
    (leaf,) = _decode_proof([value["leaf_hash"]], "map")
    if len(leaf) != merkle.HASH_SIZE or pair_n >= 1 << 63 or index >= 1 << 63:
        raise CertificateError("map_malformed")
    return pair_n, index, leaf


def _map_proof(value: Any) -> smt.Proof:
    if not isinstance(value, dict) or set(value) != {"depth", "present", "siblings"}:
        raise CertificateError("map_proof_malformed")
    depth, present = value["depth"], value["present"]
    if type(depth) is not int or not isinstance(present, str) or not _HEX.fullmatch(present):
        raise CertificateError("map_proof_malformed")
    bits = int(present, 16)
    siblings = _decode_proof(value["siblings"], "map")
    return smt.Proof(depth, bits, tuple(siblings))


def _check_scope(scope: Any, key_destroyed_at: datetime | None) -> None:
    if not isinstance(scope, dict) or set(scope) != {"covers", "backups_expire_by", "text"}:
        raise CertificateError("scope_malformed")
    expiry = scope["backups_expire_by"]
    if (expiry is None) != (key_destroyed_at is None):
        raise CertificateError("scope_does_not_follow_from_entries")
    if key_destroyed_at is not None:
        try:
            moment = e.parse_time(expiry, "scope_malformed")
        except e.EntryError as error:
            raise CertificateError(error.reason) from None
        if moment < key_destroyed_at:
            raise CertificateError("scope_does_not_follow_from_entries")


def _carried_earlier(value: Any, checkpoint: Checkpoint) -> tuple[int, list[bytes]] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"size", "consistency"}:
        raise CertificateError("earlier_malformed")
    size = value["size"]
    if type(size) is not int or not 0 < size <= checkpoint.size:
        raise CertificateError("earlier_malformed")
    return size, _decode_proof(value["consistency"], "earlier")


def _signed_body(data: bytes, verifier: Verifier) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")  # strict: no lone surrogates
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise CertificateError("not_json") from None
    if not isinstance(document, dict) or set(document) != {"body", "signature"}:
        raise CertificateError("not_a_certificate")
    body, signature = document["body"], document["signature"]
    if not isinstance(body, dict) or not isinstance(signature, str):
        raise CertificateError("not_a_certificate")
    if e.canonical_json(document) + "\n" != text:
        raise CertificateError("not_canonical", "the file is not byte-for-byte as issued")
    try:
        verifier.open(body_text(body) + "\n" + signature)
    except NoteError as error:
        raise CertificateError("signature_" + error.reason.removeprefix("signature_")) from None
    return body


def _checkpoint(note: Any, verifier: Verifier, origin: Any, where: str) -> Checkpoint:
    if not isinstance(note, str) or not isinstance(origin, str):
        raise CertificateError("checkpoint_malformed", where)
    try:
        return open_checkpoint(note, verifier, origin)
    except NoteError as error:
        # The note's own checkpoint_ codes keep one prefix: checkpoint_size_malformed.
        reason = error.reason.removeprefix("checkpoint_")
        raise CertificateError(f"checkpoint_{reason}", where) from None


def _included_entries(value: Any, checkpoint: Checkpoint) -> list[e.LogEntry]:
    if not isinstance(value, list):
        raise CertificateError("entries_malformed")
    logged: list[e.LogEntry] = []
    last = -1
    for n, item in enumerate(value, 1):
        where = f"entry {n}"
        if not isinstance(item, dict) or set(item) != {"index", "entry", "proof"}:
            raise CertificateError("entries_malformed", where)
        index, text = item["index"], item["entry"]
        if type(index) is not int or not isinstance(text, str):
            raise CertificateError("entries_malformed", where)
        if index <= last:
            raise CertificateError("entries_out_of_order", where)
        last = index
        try:
            merkle.verify_inclusion(
                index,
                checkpoint.size,
                merkle.leaf_hash(text.encode()),
                _decode_proof(item["proof"], where),
                checkpoint.root,
            )
            logged.append(e.decode(text))
        except merkle.ProofError as error:
            raise CertificateError(error.reason, where) from None
        except e.EntryError as error:
            raise CertificateError(error.reason, where) from None
    return logged


def _consistent(older: Checkpoint, newer: Checkpoint, proof: list[bytes]) -> None:
    try:
        merkle.verify_consistency(older.size, newer.size, older.root, newer.root, proof)
    except merkle.ProofError as error:
        raise CertificateError(f"previous_{error.reason}") from None


def _disclosure(value: Any, a: str, b: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"salt", "a", "b"}:
        raise CertificateError("disclosure_malformed")
    try:
        salt = bytes.fromhex(value["salt"])
    except (TypeError, ValueError):
        raise CertificateError("disclosure_malformed") from None
    if not isinstance(value["a"], str) or not isinstance(value["b"], str):
        raise CertificateError("disclosure_malformed")
    if e.user_ref(salt, value["a"]) != a or e.user_ref(salt, value["b"]) != b:
        raise CertificateError("disclosure_does_not_match_refs")
    return {"a": value["a"], "b": value["b"]}
