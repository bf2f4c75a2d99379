"""Every way a certificate can be wrong, each refused with its own reason code.

The verifier is the deployment's promise to anyone holding a certificate, so each of its checks
is pinned here by a certificate that only that check refuses: a check dropped, loosened or
given another code fails its row. Bodies are re-signed with the deployment's key where the
row is about a deeper check (no attacker can do that; it lets each check be tested alone)."""

from __future__ import annotations

import ast
import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hushan.clock import ManualClock
from hushan.service import Hushan
from hushan.tlog import certificate, entries, maproot, merkle, note, smt
from hushan.tlog.certificate import (
    CertificateError,
    LegalBasis,
    body_text,
    claims_json,
    encode_proof,
    signed_file,
    verify,
)
from hushan.tlog.entries import canonical_json, decode, replay
from hushan.tlog.note import Signer, open_checkpoint
from hushan.tlog.witness import Cosigner
from tests.conftest import fresh_engine


@dataclass(frozen=True)
class Issued:
    engine: Hushan
    data: bytes  # a's certificate: previous, earlier, disclosure and a destroyed key
    kept: str  # a checkpoint note of the log before the pair parted, as a holder keeps it
    stranger: bytes  # c's certificate of another pair, at the same checkpoint
    older: bytes  # the pair's earlier certificate, at an earlier checkpoint

    @property
    def stranger_entry(self) -> dict[str, Any]:
        """An entry of another pair, proven at the same checkpoint."""
        entry: dict[str, Any] = json.loads(self.stranger)["body"]["entries"][0]
        return entry

    @property
    def stranger_map(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.stranger)["body"]["map"]
        return found

    @property
    def older_map(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.older)["body"]["map"]
        return found

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.data)["body"]
        return body

    @property
    def signature(self) -> str:
        signature: str = json.loads(self.data)["signature"]
        return signature

    def resign(self, body: dict[str, Any]) -> bytes:
        signer = self.engine.log.signer
        return signed_file(body, signer.signature_line(body_text(body)))

    def checkpoint_note(self, text: str) -> str:
        """A checkpoint note over `text`, signed with the deployment's key."""
        return self.engine.log.signer.sign(text)


@pytest.fixture(scope="module")
def issued(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    # The verifier reads bytes and a key only: one SQLite engine makes every certificate.
    engine = fresh_engine(template_db, tmp_path_factory.mktemp("reasons"))
    assert isinstance(engine.clock, ManualClock)
    for user in "abcd":
        engine.create_user(user)
    for x, y in ("ab", "cd"):
        engine.send_request(x, y, "hi")
        engine.accept_request(y, x)
        engine.send_message(x, y, "hello")
        if x == "a":
            kept = engine.log.publish()  # older than the pair's earlier certificate
    assert kept is not None
    older = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)  # the pair's earlier one
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    engine.clock.advance(timedelta(days=31))
    engine.sweep()
    data = engine.log.certificate(
        "a", "b", LegalBasis.GDPR_ART_17, disclose=True, earlier_size=kept.size
    )
    stranger = engine.log.certificate("c", "d", LegalBasis.USER_REQUEST)
    made = Issued(engine, data, kept.note, stranger, older)
    assert json.loads(stranger)["body"]["checkpoint"] == made.body["checkpoint"]
    yield made
    engine.store.close()


Tamper = Callable[[Issued], bytes]


def body_with(**fields: Any) -> Tamper:
    """The body with some fields replaced, each a value or a function of the old value."""

    def tamper(cert: Issued) -> bytes:
        body = cert.body
        for name, value in fields.items():
            body[name] = value(body[name]) if callable(value) else value
        return cert.resign(body)

    return tamper


def plus(**extra: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda old: {**old, **extra}


def but_first(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    return lambda entries: [change(entries[0]), *entries[1:]]


def document(cert: Issued, **changes: Any) -> bytes:
    doc = {**json.loads(cert.data), **changes}
    return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()


def foreign_signature(cert: Issued) -> bytes:
    impostor = Signer.generate(cert.engine.log.origin)
    return signed_file(cert.body, impostor.signature_line(body_text(cert.body)))


def checkpoint_text(cert: Issued, *, origin: str = "", size: str = "", root: str = "") -> str:
    real_origin, real_size, real_root = cert.engine.log.signer.verifier.open(
        cert.body["checkpoint"]
    ).split("\n")[:3]
    return f"{origin or real_origin}\n{size or real_size}\n{root or real_root}\n"


def shorter(proof: list[str]) -> list[str]:
    return proof[1:]


def flipped(proof: list[str]) -> list[str]:
    first = bytearray(base64.b64decode(proof[0]))
    first[0] ^= 1
    return [base64.b64encode(bytes(first)).decode(), *proof[1:]]


def log_of_one_leaf(cert: Issued, leaf: str) -> bytes:
    """The certificate over a log whose one leaf is `leaf`, at a checkpoint signed for it."""
    root = base64.b64encode(merkle.leaf_hash(leaf.encode())).decode()
    note = cert.checkpoint_note(checkpoint_text(cert, size="1", root=root))
    entries = [{"index": 0, "entry": leaf, "proof": []}]
    return body_with(checkpoint=note, entries=entries)(cert)


def first_entry(cert: Issued, **changes: Any) -> str:
    """The pair's first log entry with some fields changed, canonical."""
    return canonical_json({**json.loads(cert.body["entries"][0]["entry"]), **changes})


def with_entry(text: Callable[[Issued], str]) -> Tamper:
    return lambda cert: log_of_one_leaf(cert, text(cert))


def with_checkpoint(note: Callable[[Issued], str]) -> Tamper:
    return lambda cert: body_with(checkpoint=note(cert))(cert)


def with_signature(line: Callable[[Issued], str]) -> Tamper:
    return lambda cert: signed_file(cert.body, line(cert))


def with_previous_checkpoint(text: Callable[[Issued], str], consistency: list[str]) -> Tamper:
    """`previous` as a checkpoint of `text`, signed with the deployment's key."""
    return lambda cert: body_with(
        previous={"checkpoint": cert.checkpoint_note(text(cert)), "consistency": consistency}
    )(cert)


def from_the_first_leaf(change: Callable[[list[str]], list[str]]) -> Tamper:
    """`previous` as the log at size 1 (the pair's first entry), its proof changed."""

    def tamper(cert: Issued) -> bytes:
        first = cert.body["entries"][0]
        assert first["index"] == 0
        root = base64.b64encode(merkle.leaf_hash(first["entry"].encode())).decode()
        proof = encode_proof(cert.engine.log.consistency_proof(1, checkpoint_size(cert)))
        text = checkpoint_text(cert, size="1", root=root)
        return with_previous_checkpoint(lambda _: text, change(proof))(cert)

    return tamper


def other_root(cert: Issued, size: str = "") -> str:
    return checkpoint_text(cert, size=size, root=base64.b64encode(b"\x07" * 32).decode())


def last_flipped(proof: list[str]) -> list[str]:
    return flipped(proof[::-1])[::-1]


def longer(proof: list[str]) -> list[str]:
    return [*proof, proof[0]]


def signatures(note: str) -> str:
    return note.split("\n\n", 1)[1]


def checkpoint_size(cert: Issued) -> int:
    return int(checkpoint_text(cert).split("\n")[1])


HASH = base64.b64encode(bytes(32)).decode()
SHORT_HASH = ["AA=="]  # base64 of one byte
ODD_NAME = "\u2014 a+b AAAAAAAA\n"  # a signature line whose key name holds "+"


def truncated(keep: int) -> Tamper:
    """The certificate cut after its `keep`-th entry, its claims and scope re-derived and
    signed again: the lie a deployment with its own key could tell."""

    def tamper(cert: Issued) -> bytes:
        body = cert.body
        shown = body["entries"][:keep]
        state = replay([decode(x["entry"]) for x in shown], body["pair"]["a"], body["pair"]["b"])
        assert state.key_destroyed_at is None
        return cert.resign({**body, "entries": shown, "claims": claims_json(state), "scope": SCOPE})

    return tamper


SCOPE = {
    "covers": "server-side copies",
    "backups_expire_by": None,
    "text": "server-side copies; the history is not erased",
}


def small_world(
    log: Callable[[Issued], list[str]],
    shown: list[int],
    value_at: int = -1,
    map_leaf: Callable[[bytes, int], str] | None = None,
) -> Tamper:
    """The pair's certificate over a log made up here (`log`'s entries, then a map-root leaf),
    at a checkpoint signed for it with the deployment's key: the entries at `shown`, claims
    re-derived, and the map holding the pair's entry at `value_at` (a log that lies in ways
    the real one cannot)."""

    def tamper(cert: Issued) -> bytes:
        texts = log(cert)
        pair = cert.body["pair"]
        key = smt.map_key(pair["a"], pair["b"])
        at = value_at % len(texts)
        digest = merkle.leaf_hash(texts[at].encode())
        pair_n = json.loads(texts[at])["pair_n"]
        root = smt.root_of({key: smt.map_value(pair_n, at, digest)})
        leaf = (map_leaf or (lambda r, n: maproot.MapRoot(r, n, TIME).text()))(root, len(texts))
        leaves = [*texts, leaf]
        nodes: dict[tuple[int, int], bytes] = {}
        for i, text in enumerate(leaves):
            for level, index, node in merkle.completed_nodes(
                i, merkle.leaf_hash(text.encode()), lambda lv, j: nodes[lv, j]
            ):
                nodes[level, index] = node
        size = len(leaves)

        def proof(i: int) -> list[str]:
            return encode_proof(merkle.inclusion_proof(i, size, lambda lv, j: nodes[lv, j]))

        tree = base64.b64encode(merkle.root(size, lambda lv, j: nodes[lv, j])).decode()
        state = replay([decode(texts[i]) for i in shown], pair["a"], pair["b"])
        body = {
            **cert.body,
            "entries": [{"index": i, "entry": texts[i], "proof": proof(i)} for i in shown],
            "checkpoint": cert.checkpoint_note(checkpoint_text(cert, size=str(size), root=tree)),
            "claims": claims_json(state),
            "scope": SCOPE,
            "previous": None,
            "earlier": None,
            "map": {
                "root_leaf": {"index": size - 1, "entry": leaf, "proof": proof(size - 1)},
                "key": key.hex(),
                "value": {
                    "pair_n": pair_n,
                    "index": at,
                    "leaf_hash": base64.b64encode(digest).decode(),
                },
                "proof": {"depth": 0, "present": "0" * 64, "siblings": []},
            },
        }
        return cert.resign(body)

    return tamper


TIME = datetime(2026, 11, 30, tzinfo=UTC)


def map_part(**fields: Any) -> Tamper:
    """The map field with parts replaced, each a value or a function of (the certificate, the
    old value)."""

    def tamper(cert: Issued) -> bytes:
        found = cert.body["map"]
        for name, value in fields.items():
            found[name] = value(cert, found[name]) if callable(value) else value
        return body_with(map=found)(cert)

    return tamper


REF = "0" * 64

# (what the verifier must say: its reason code, then ": " and where when it names a part; how
# the certificate was spoilt)
TABLE: list[tuple[str, Tamper]] = [
    ("not_json", lambda cert: cert.data[:-10]),
    ("not_a_certificate", lambda cert: b"[]\n"),
    ("not_a_certificate", lambda cert: document(cert, extra="x")),
    ("not_a_certificate", lambda cert: document(cert, signature=5)),
    (
        "not_canonical: the file is not byte-for-byte as issued",
        lambda cert: json.dumps(json.loads(cert.data), indent=1).encode(),
    ),
    (
        "not_canonical: the file is not byte-for-byte as issued",
        lambda cert: cert.data.rstrip(b"\n"),
    ),
    ("signature_note_unsigned", lambda cert: signed_file(cert.body, "")),
    (
        "signature_invalid",
        lambda cert: signed_file({**cert.body, "legal_basis": "user_request"}, cert.signature),
    ),
    ("signature_missing_for_key", foreign_signature),
    ("body_fields_wrong", body_with(extra=1)),
    (
        "format_unknown: hushan-deletion-certificate/3",
        body_with(format="hushan-deletion-certificate/3"),
    ),
    ("origin_is_not_the_key_name", body_with(origin="other.example/log")),
    ("legal_basis_unknown", body_with(legal_basis="because")),
    ("legal_basis_unknown", body_with(legal_basis=None)),
    ("issued_at_malformed", body_with(issued_at="2026-11-30")),
    ("issued_at_malformed", body_with(issued_at=1)),
    ("checkpoint_malformed: checkpoint", body_with(checkpoint=5)),
    (
        "checkpoint_size_malformed: checkpoint",
        lambda cert: body_with(checkpoint=cert.checkpoint_note(checkpoint_text(cert, size="x")))(
            cert
        ),
    ),
    (
        "checkpoint_root_malformed: checkpoint",
        lambda cert: body_with(checkpoint=cert.checkpoint_note(checkpoint_text(cert, root="AA==")))(
            cert
        ),
    ),
    (
        "checkpoint_origin_mismatch: checkpoint",
        lambda cert: body_with(
            checkpoint=cert.checkpoint_note(checkpoint_text(cert, origin="other.example/log"))
        )(cert),
    ),
    (
        "checkpoint_signature_missing_for_key: checkpoint",
        lambda cert: body_with(
            checkpoint=Signer.generate(cert.engine.log.origin).sign(checkpoint_text(cert))
        )(cert),
    ),
    ("pair_malformed", body_with(pair=plus(c=REF))),
    ("pair_malformed", body_with(pair=lambda pair: {"a": pair["a"], "b": pair["a"]})),
    ("pair_malformed", body_with(pair=plus(a="A" * 64))),
    ("pair_malformed", body_with(pair=[REF, REF])),
    ("entries_malformed", body_with(entries={})),
    ("entries_malformed: entry 1", body_with(entries=but_first(plus(extra=1)))),
    ("entries_malformed: entry 1", body_with(entries=but_first(plus(index=True)))),
    ("entries_malformed: entry 1", body_with(entries=but_first(plus(entry=5)))),
    ("entries_out_of_order: entry 2", body_with(entries=lambda entries: [entries[0], *entries])),
    ("entries_out_of_order: entry 2", body_with(entries=lambda entries: entries[::-1])),
    ("entries_out_of_order: entry 1", body_with(entries=but_first(plus(index=-1)))),
    ("proof_malformed: entry 1", body_with(entries=but_first(plus(proof="AA==")))),
    ("proof_malformed: entry 1", body_with(entries=but_first(plus(proof=["not base64!"])))),
    ("proof_malformed: entry 1", body_with(entries=but_first(plus(proof=5)))),
    ("proof_malformed: entry 1", body_with(entries=but_first(plus(proof=[5])))),
    # Base64 is read strictly: a hash with a stray character is refused, not read past.
    (
        "proof_malformed: entry 1",
        body_with(
            entries=but_first(
                lambda x: {**x, "proof": [x["proof"][0][:4] + "!" + x["proof"][0][4:]]}
            )
        ),
    ),
    ("inclusion_proof_too_short: entry 1", body_with(entries=but_first(plus(proof=[])))),
    ("leaf_index_beyond_tree: entry 1", body_with(entries=but_first(plus(index=10**6)))),
    ("entry_not_json: entry 1", lambda cert: log_of_one_leaf(cert, "not an entry")),
    (
        "inclusion_root_mismatch: entry 1",
        body_with(entries=but_first(lambda x: {**x, "proof": flipped(x["proof"])})),
    ),
    (
        "entry_of_another_pair",
        lambda cert: body_with(
            entries=lambda entries: sorted(
                [*entries, cert.stranger_entry], key=lambda item: item["index"]
            )
        )(cert),
    ),
    ("pair_entries_missing_or_reordered", body_with(entries=lambda entries: entries[1:])),
    ("claims_do_not_follow_from_entries: relation", body_with(claims=plus(relation="both_way"))),
    ("claims_do_not_follow_from_entries: a_blocks_b", body_with(claims=plus(a_blocks_b=0))),
    ("claims_do_not_follow_from_entries: relation", body_with(claims=[])),
    ("claims_do_not_follow_from_entries: claims", body_with(claims=plus(extra=1))),
    ("scope_malformed", body_with(scope=plus(extra=1))),
    ("scope_malformed", body_with(scope="everything")),
    ("scope_malformed", body_with(scope=plus(backups_expire_by="soon"))),
    ("scope_does_not_follow_from_entries", body_with(scope=plus(backups_expire_by=None))),
    (
        "scope_does_not_follow_from_entries",
        body_with(scope=plus(backups_expire_by="2000-01-01T00:00:00.000000Z")),
    ),
    ("signature_note_malformed", with_signature(lambda cert: cert.signature.rstrip("\n"))),
    ("signature_note_signature_line_malformed", with_signature(lambda cert: "x\n")),
    ("signature_key_name_invalid", with_signature(lambda cert: ODD_NAME)),
    # DEL is the one control character canonical JSON leaves unescaped.
    (
        "signature_note_text_has_control_characters",
        lambda cert: signed_file({**cert.body, "legal_basis": "\x7f"}, cert.signature),
    ),
    (
        "checkpoint_malformed: checkpoint",
        with_checkpoint(lambda cert: cert.checkpoint_note("only an origin\n")),
    ),
    ("checkpoint_note_malformed: checkpoint", body_with(checkpoint="no newline")),
    ("checkpoint_note_unsigned: checkpoint", with_checkpoint(lambda c: checkpoint_text(c) + "\n")),
    (
        "checkpoint_note_signature_line_malformed: checkpoint",
        with_checkpoint(lambda cert: checkpoint_text(cert) + "\nx\n"),
    ),
    (
        "checkpoint_key_name_invalid: checkpoint",
        with_checkpoint(lambda cert: checkpoint_text(cert) + "\n" + ODD_NAME),
    ),
    (
        "checkpoint_note_text_has_control_characters: checkpoint",
        with_checkpoint(lambda cert: "origin\t\n1\nroot\n\n" + ODD_NAME),
    ),
    (
        "checkpoint_signature_invalid: checkpoint",
        with_checkpoint(lambda cert: other_root(cert) + "\n" + signatures(cert.body["checkpoint"])),
    ),
    ("proof_hash_wrong_length: entry 1", body_with(entries=but_first(plus(proof=SHORT_HASH)))),
    (
        "inclusion_proof_too_long: entry 1",
        body_with(entries=but_first(lambda x: {**x, "proof": longer(x["proof"])})),
    ),
    ("entry_fields_wrong: entry 1", with_entry(lambda cert: "{}")),
    ("entry_fields_wrong: entry 1", with_entry(lambda cert: first_entry(cert, pair_n=0))),
    (
        "entry_not_canonical: entry 1",
        with_entry(lambda cert: json.dumps(json.loads(first_entry(cert)), indent=1)),
    ),
    ("entry_format_unknown: entry 1", with_entry(lambda cert: first_entry(cert, v=2))),
    ("entry_value_unknown: entry 1", with_entry(lambda cert: first_entry(cert, action="x"))),
    ("entry_refs_malformed: entry 1", with_entry(lambda cert: first_entry(cert, a="A" * 64))),
    ("entry_refs_malformed: entry 1", with_entry(lambda cert: first_entry(cert, actor="system"))),
    ("entry_reason_wrong: entry 1", with_entry(lambda cert: first_entry(cert, reason="purge_due"))),
    (
        "entry_purge_at_wrong: entry 1",
        with_entry(lambda cert: first_entry(cert, purge_at="2026-01-01T00:00:00.000000Z")),
    ),
    ("entry_time_malformed: entry 1", with_entry(lambda cert: first_entry(cert, at="today"))),
    ("entry_actor_outside_pair", with_entry(lambda cert: first_entry(cert, actor=REF))),
    ("previous_proof_hash_wrong_length", body_with(previous=plus(consistency=SHORT_HASH))),
    (
        "previous_consistency_proof_too_long",
        body_with(previous=lambda p: {**p, "consistency": longer(p["consistency"])}),
    ),
    # From size 1 every hash of the proof leads only to the new root.
    ("previous_consistency_new_root_mismatch", from_the_first_leaf(flipped)),
    (
        "previous_consistency_sizes_out_of_order",
        with_previous_checkpoint(lambda cert: checkpoint_text(cert, size="1000000"), []),
    ),
    (
        "previous_consistency_proof_not_empty",
        with_previous_checkpoint(lambda cert: other_root(cert), [HASH]),
    ),
    ("previous_consistency_root_mismatch", with_previous_checkpoint(other_root, [])),
    (
        "previous_consistency_proof_empty",
        with_previous_checkpoint(lambda cert: other_root(cert, size="3"), []),
    ),
    ("pair_entries_truncated: the map holds pair_n 10, the entries end at 3", truncated(3)),
    (
        "pair_entries_truncated: the map holds pair_n 1, the entries end at 0",
        small_world(lambda cert: [first_entry(cert)], shown=[]),
    ),
    (
        "map_value_does_not_match_entries",
        small_world(
            lambda cert: [first_entry(cert), first_entry(cert, at="2026-11-29T00:00:00.000000Z")],
            shown=[0],
        ),
    ),
    ("map_malformed", body_with(map=5)),
    ("map_malformed", body_with(map=plus(extra=1))),
    ("map_malformed", map_part(root_leaf={})),
    ("map_malformed", map_part(root_leaf=lambda cert, x: {**x, "index": "1"})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "pair_n": 0})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "index": -1})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "leaf_hash": "AA=="})),
    ("map_malformed", map_part(value=[])),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "extra": 5})),
    ("map_malformed", map_part(value=lambda cert, x: {k: v for k, v in x.items() if k != "index"})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "pair_n": True})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "index": "1"})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "pair_n": 1 << 63})),
    ("map_malformed", map_part(value=lambda cert, x: {**x, "index": 1 << 63})),
    ("map_malformed", map_part(root_leaf=lambda cert, x: {**x, "entry": 5})),
    ("map_malformed", map_part(root_leaf=lambda cert, x: {**x, "extra": 5})),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "present": 5})),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "depth": -1})),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "extra": 1})),
    (
        "map_proof_malformed",
        map_part(proof=lambda cert, x: {**x, "siblings": ["AA==", *x["siblings"][1:]]}),
    ),
    ("proof_malformed: map", map_part(value=lambda cert, x: {**x, "leaf_hash": 5})),
    ("map_proof_malformed", map_part(proof=[])),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "depth": "1"})),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "depth": 257})),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "present": "F" * 64})),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "present": "f" * 64})),
    (
        "map_proof_malformed",
        map_part(proof=lambda cert, x: {**x, "siblings": x["siblings"][1:]}),
    ),
    ("map_proof_malformed", map_part(proof=lambda cert, x: {**x, "siblings": SHORT_HASH})),
    # The pair's value and proof from its earlier certificate's checkpoint.
    (
        "map_proof_root_mismatch",
        map_part(
            value=lambda cert, x: cert.older_map["value"],
            proof=lambda cert, x: cert.older_map["proof"],
        ),
    ),
    (
        "map_proof_root_mismatch",
        map_part(proof=lambda cert, x: {**x, "siblings": flipped(x["siblings"])}),
    ),
    ("map_value_of_another_pair", lambda cert: body_with(map=cert.stranger_map)(cert)),
    (
        "map_proof_root_mismatch",
        map_part(
            value=lambda cert, x: cert.stranger_map["value"],
            proof=lambda cert, x: cert.stranger_map["proof"],
        ),
    ),
    (
        "map_root_of_another_checkpoint: leaf 11",
        map_part(root_leaf=lambda cert, x: cert.older_map["root_leaf"]),
    ),
    (
        "map_root_leaf_not_in_checkpoint: inclusion_root_mismatch",
        map_part(root_leaf=lambda cert, x: {**x, "proof": flipped(x["proof"])}),
    ),
    ("proof_malformed: map", map_part(root_leaf=lambda cert, x: {**x, "proof": 5})),
    (
        "map_root_leaf_malformed",
        small_world(lambda cert: [first_entry(cert)], [0], map_leaf=lambda root, size: "{}"),
    ),
    (
        "map_root_of_another_checkpoint: size 0",
        small_world(
            lambda cert: [first_entry(cert)],
            [0],
            map_leaf=lambda root, size: maproot.MapRoot(root, 0, TIME).text(),
        ),
    ),
    ("previous_malformed", body_with(previous=plus(extra=1))),
    ("previous_malformed", body_with(previous=5)),
    ("proof_malformed: previous", body_with(previous=plus(consistency="AA=="))),
    (
        "previous_consistency_proof_too_short",
        body_with(previous=lambda p: {**p, "consistency": shorter(p["consistency"])}),
    ),
    (
        "previous_consistency_old_root_mismatch",
        body_with(previous=lambda p: {**p, "consistency": flipped(p["consistency"])}),
    ),
    ("checkpoint_malformed: previous", body_with(previous=plus(checkpoint=None))),
    ("earlier_malformed", body_with(earlier=plus(extra=1))),
    ("earlier_malformed", body_with(earlier=plus(size=True))),
    ("earlier_malformed", body_with(earlier=plus(size=0))),
    ("earlier_malformed", body_with(earlier=plus(size=10**6))),
    ("earlier_malformed", body_with(earlier=[])),
    ("proof_malformed: earlier", body_with(earlier=plus(consistency="AA=="))),
    ("disclosure_malformed", body_with(disclosure=plus(extra="x"))),
    ("disclosure_malformed", body_with(disclosure=plus(salt="zz"))),
    ("disclosure_malformed", body_with(disclosure=plus(salt=None))),
    ("disclosure_malformed", body_with(disclosure=plus(a=1))),
    ("disclosure_malformed", body_with(disclosure="a and b")),
    (
        "disclosure_does_not_match_refs",
        body_with(disclosure=lambda d: {**d, "a": d["b"], "b": d["a"]}),
    ),
    ("disclosure_does_not_match_refs", body_with(disclosure=plus(b="someone else"))),
]

# Rows that need the checkpoint the holder kept: (what it says, certificate, kept checkpoint)
KEPT: list[tuple[str, Tamper, Callable[[Issued], str]]] = [
    ("earlier_checkpoint_not_linked: size 6", body_with(earlier=None), lambda cert: cert.kept),
    (
        "earlier_checkpoint_not_linked: size 6",
        body_with(earlier=lambda x: {**x, "size": x["size"] + 1}),
        lambda cert: cert.kept,
    ),
    (
        "earlier_consistency_proof_too_short",
        body_with(earlier=lambda x: {**x, "consistency": shorter(x["consistency"])}),
        lambda cert: cert.kept,
    ),
    ("checkpoint_note_malformed: earlier", lambda cert: cert.data, lambda cert: "not a note"),
    (
        "earlier_proof_hash_wrong_length",
        body_with(earlier=plus(consistency=SHORT_HASH)),
        lambda cert: cert.kept,
    ),
    (
        "earlier_consistency_proof_too_long",
        body_with(earlier=lambda x: {**x, "consistency": longer(x["consistency"])}),
        lambda cert: cert.kept,
    ),
    (
        "earlier_consistency_proof_empty",
        body_with(earlier=plus(consistency=[])),
        lambda cert: cert.kept,
    ),
    (
        "earlier_consistency_old_root_mismatch",
        body_with(earlier=lambda x: {**x, "consistency": flipped(x["consistency"])}),
        lambda cert: cert.kept,
    ),
    (
        "earlier_consistency_new_root_mismatch",
        body_with(earlier=lambda x: {**x, "consistency": last_flipped(x["consistency"])}),
        lambda cert: cert.kept,
    ),
    # A checkpoint of the certificate's size with another root: a fork the proof cannot link.
    (
        "earlier_consistency_proof_not_empty",
        lambda cert: body_with(earlier=plus(size=checkpoint_size(cert)))(cert),
        lambda cert: cert.checkpoint_note(other_root(cert)),
    ),
    (
        "earlier_consistency_root_mismatch",
        lambda cert: body_with(earlier={"size": checkpoint_size(cert), "consistency": []})(cert),
        lambda cert: cert.checkpoint_note(other_root(cert)),
    ),
]


def format_1(cert: Issued) -> bytes:
    """The certificate as format 1 issued it: no map."""
    body = cert.body
    del body["map"], body["claims"]["history"]
    return cert.resign({**body, "format": "hushan-deletion-certificate/1"})


def as_of(cert: Issued) -> datetime:
    return maproot.decode(cert.body["map"]["root_leaf"]["entry"]).time


# Rows about freshness: (what it says, certificate, the keyword arguments of `verify`)
FRESH: list[tuple[str, Tamper, Callable[[Issued], dict[str, Any]]]] = [
    (
        "certificate_too_old: as of 2026-02-01T00:00:00.000000Z",
        lambda cert: cert.data,
        lambda cert: {"max_age": timedelta(0), "now": as_of(cert) + timedelta(microseconds=1)},
    ),
    ("certificate_has_no_time", format_1, lambda cert: {"max_age": timedelta(days=1)}),
    # Without `now`, the age is reckoned from the current time.
    (
        "certificate_too_old: as of 2026-02-01T00:00:00.000000Z",
        lambda cert: cert.data,
        lambda cert: {"max_age": datetime.now(UTC) - as_of(cert) - timedelta(seconds=60)},
    ),
    ("certificate_has_no_time", format_1, lambda cert: {"later": cert.data}),
    (
        "certificate_has_no_time: later",
        lambda cert: cert.data,
        lambda cert: {"later": format_1(cert)},
    ),
    (
        "later_certificate_invalid: not_json",
        lambda cert: cert.data,
        lambda cert: {"later": b"x"},
    ),
    (
        "later_certificate_not_of_this_pair",
        lambda cert: cert.data,
        lambda cert: {"later": cert.stranger},
    ),
    ("later_certificate_is_older", lambda cert: cert.data, lambda cert: {"later": cert.older}),
    (
        "witness_cosignatures_too_few: 0 of 1",
        lambda cert: cert.data,
        lambda cert: {"witnesses": [Cosigner.generate("witness.example/w1").public]},
    ),
]


def reason_of(said: str) -> str:
    return said.partition(": ")[0]


def assert_says(error: CertificateError, said: str) -> None:
    """The refusal as `hushan verify` prints it, and its parts."""
    assert str(error) == said
    assert (error.reason, error.detail) == (reason_of(said), said.partition(": ")[2])


@pytest.mark.parametrize(("said", "tamper"), TABLE, ids=[r for r, _ in TABLE])
def test_each_spoilt_certificate_is_refused_with_its_reason(
    issued: Issued, said: str, tamper: Tamper
) -> None:
    with pytest.raises(CertificateError) as caught:
        verify(tamper(issued), issued.engine.log.signer.verifier)
    assert_says(caught.value, said)


@pytest.mark.parametrize(("said", "tamper", "kept"), KEPT, ids=[r for r, _, _ in KEPT])
def test_a_kept_checkpoint_must_be_linked(
    issued: Issued, said: str, tamper: Tamper, kept: Callable[[Issued], str]
) -> None:
    with pytest.raises(CertificateError) as caught:
        verify(tamper(issued), issued.engine.log.signer.verifier, earlier_checkpoint=kept(issued))
    assert_says(caught.value, said)


@pytest.mark.parametrize(("said", "tamper", "options"), FRESH, ids=[r for r, _, _ in FRESH])
def test_freshness_is_refused_where_it_cannot_be_shown(
    issued: Issued, said: str, tamper: Tamper, options: Callable[[Issued], dict[str, Any]]
) -> None:
    with pytest.raises(CertificateError) as caught:
        verify(tamper(issued), issued.engine.log.signer.verifier, **options(issued))
    assert_says(caught.value, said)


def test_a_certificate_exactly_max_age_old_passes(issued: Issued) -> None:
    verifier = issued.engine.log.signer.verifier
    verdict = verify(issued.data, verifier, max_age=timedelta(0), now=as_of(issued))
    assert verdict.time == as_of(issued) and verdict.map_checked


def test_a_format_1_certificate_verifies_without_the_map(issued: Issued) -> None:
    """Certificates issued before the map keep verifying by the rules of their day; the
    verdict says that the map was not checked, so truncation is not excluded."""
    verdict = verify(format_1(issued), issued.engine.log.signer.verifier)
    assert not verdict.map_checked and verdict.time is None and verdict.latest_pair_n is None
    assert (verdict.holder, verdict.other) == (issued.body["pair"]["a"], issued.body["pair"]["b"])
    assert verdict.claims == {k: v for k, v in issued.body["claims"].items() if k != "history"}


def test_a_format_2_certificate_needs_its_map(issued: Issued) -> None:
    body = issued.body
    del body["map"]
    with pytest.raises(CertificateError, match="body_fields_wrong"):
        verify(issued.resign(body), issued.engine.log.signer.verifier)
    with pytest.raises(CertificateError, match="body_fields_wrong"):
        verify(
            issued.resign({**issued.body, "format": "hushan-deletion-certificate/1"}),
            issued.engine.log.signer.verifier,
        )


def test_the_genuine_certificate_passes_with_what_it_claims(issued: Issued) -> None:
    verdict = verify(issued.data, issued.engine.log.signer.verifier, earlier_checkpoint=issued.kept)
    assert verdict.disclosed == {"a": "a", "b": "b"}
    assert verdict.claims == issued.body["claims"]
    assert verdict.entries == len(issued.body["entries"])
    assert verdict.checkpoint.size >= len(issued.body["entries"])
    assert (verdict.holder, verdict.other) == (issued.body["pair"]["a"], issued.body["pair"]["b"])


def test_backups_may_expire_at_the_moment_the_key_was_destroyed(issued: Issued) -> None:
    destroyed = issued.body["claims"]["key_destroyed_at"]
    at_the_bound = body_with(scope=plus(backups_expire_by=destroyed))(issued)
    verify(at_the_bound, issued.engine.log.signer.verifier)


ERROR_CALLS = {
    "CertificateError",
    "NoteError",
    "ProofError",
    "MapProofError",
    "EntryError",
    "parse_time",
    "_decode_proof",
    "_b64decode",
}
CODE = re.compile(r"[a-z]+(_[a-z0-9]+)+")


def _codes_by_function(module: Any) -> dict[str, set[str]]:
    """The reason codes each function (or class) of `module` spells out, read from its source:
    every code-shaped string given to one of the error classes or to a helper that raises one."""
    found: dict[str, set[str]] = {}
    for scope in ast.parse(Path(module.__file__).read_text()).body:
        codes = found.setdefault(getattr(scope, "name", ""), set())
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
                name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                if name in ERROR_CALLS:
                    codes |= {
                        arg.value
                        for arg in node.args
                        if isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and CODE.fullmatch(arg.value)
                    }
    return found


# Codes in those modules that `verify` cannot give, and why: the test fails if one of these
# becomes reachable (a row for it would then be refused as listed here) or stops existing.
UNREACHABLE = {
    # A note's text is cut after a newline, and the file is strict UTF-8 and canonical (a lone
    # surrogate escaped in JSON fails `not_canonical` first).
    "signature_note_text_must_end_in_newline": "split_note cuts after a newline",
    "checkpoint_note_text_must_end_in_newline": "split_note cuts after a newline",
    "signature_note_text_not_utf8": "not_canonical comes first",
    "checkpoint_note_text_not_utf8": "not_canonical comes first",
    # The carried earlier size is checked to lie in 1..checkpoint size before the proof.
    "earlier_consistency_sizes_out_of_order": "earlier_malformed comes first",
}


def verifier_codes() -> set[str]:
    """Every reason code `verify` can give: its own, and those of the note, Merkle and entry
    checks it runs, named as the verifier passes them on (one `checkpoint_` or `signature_`
    prefix on a note's codes, `previous_` or `earlier_` on a consistency proof's)."""
    own = set().union(*_codes_by_function(certificate).values())
    notes = _codes_by_function(note)
    signed = {
        code
        for scope in ("split_note", "check_text", "_check_name", "Verifier")
        for code in notes[scope]
        if not code.startswith(("verifier_key_", "signer_key_"))  # Verifier.parse's
    }
    checkpoint = signed | notes["Checkpoint"] | notes["open_checkpoint"]
    proofs = _codes_by_function(merkle)
    inclusion = proofs["verify_inclusion"] | proofs["_check_hashes"]
    consistency = proofs["verify_consistency"] | proofs["_check_hashes"]
    entry_codes = set().union(*_codes_by_function(entries).values())
    map_codes = _codes_by_function(smt)["verify"] | set().union(
        *_codes_by_function(maproot).values()
    )
    passed_on = (
        {"checkpoint_" + code.removeprefix("checkpoint_") for code in checkpoint}
        | {"signature_" + code.removeprefix("signature_") for code in signed}
        | {f"{where}_{code}" for code in consistency for where in ("previous", "earlier")}
    )
    return (own | inclusion | entry_codes | map_codes | passed_on) - set(UNREACHABLE)


def test_the_tables_cover_exactly_the_verifiers_reason_codes() -> None:
    """Each code the verifier has is reached by a row, and no row names a code it lacks."""
    tested = {reason_of(said) for said, _ in TABLE} | {reason_of(said) for said, _, _ in KEPT}
    assert tested | {reason_of(said) for said, _, _ in FRESH} == verifier_codes()


def test_the_unreachable_codes_exist() -> None:
    """The codes set aside above are still spelled somewhere, so the list cannot go stale."""
    codes = {
        code
        for module in (certificate, note, merkle, entries, smt, maproot)
        for scope in _codes_by_function(module).values()
        for code in scope
    }
    for code in UNREACHABLE:
        assert code in codes or code.split("_", 1)[1] in codes, code


def test_each_reason_code_is_spelled_once() -> None:
    """No code repeats a word (`checkpoint_checkpoint_size_malformed` was one)."""
    for reason in verifier_codes():
        words = reason.split("_")
        assert CODE.fullmatch(reason), reason
        assert all(a != b for a, b in zip(words, words[1:], strict=False)), reason


def test_the_verifier_derives_each_removal_in_the_documented_form(issued: Issued) -> None:
    """`removals`: who removed whom (the pair's refs) and when, oldest first (a removed b,
    then b removed a, before the history was purged)."""
    claims, pair = (
        verify(issued.data, issued.engine.log.signer.verifier).claims,
        issued.body["pair"],
    )
    removals = claims["removals"]
    assert [(r["by"], r["of"]) for r in removals] == [
        (pair["a"], pair["b"]),
        (pair["b"], pair["a"]),
    ]
    assert all(set(r) == {"by", "of", "at"} and r["at"] < claims["purge_at"] for r in removals)


@pytest.mark.parametrize("at", ["first", "last"])
def test_a_proof_may_start_from_any_earlier_size(issued: Issued, at: str) -> None:
    """`earlier.size` may be anything from 1 to the certificate's own size."""
    log = issued.engine.log
    head = log.publish()
    assert head is not None
    size = 1 if at == "first" else head.size
    data = log.certificate("a", "b", LegalBasis.USER_REQUEST, earlier_size=size)
    assert json.loads(data)["body"]["earlier"]["size"] == size
    verify(data, log.signer.verifier)


@pytest.mark.parametrize("kept", ["previous", "checkpoint"])
def test_a_kept_checkpoint_may_be_the_previous_certificates_or_this_ones(
    issued: Issued, kept: str
) -> None:
    """A holder who kept the pair's previous certificate's checkpoint, or this one's, may check
    against it: the certificate proves the link itself."""
    note = (
        issued.body["previous"]["checkpoint"] if kept == "previous" else issued.body["checkpoint"]
    )
    verifier = issued.engine.log.signer.verifier
    size = open_checkpoint(note, verifier, issued.body["origin"]).size
    assert size != issued.body["earlier"]["size"]  # so not linked by the carried proof
    verify(issued.data, issued.engine.log.signer.verifier, earlier_checkpoint=note)
