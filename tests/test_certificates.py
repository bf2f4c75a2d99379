"""Deletion certificates from the real engine, checked offline; every tampering is caught."""

from __future__ import annotations

import base64
import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hushan.clock import ManualClock, iso_utc
from hushan.domain.errors import (
    EarlierSizeOutOfRange,
    HushanError,
    NothingToCertify,
    UserNotFound,
)
from hushan.domain.model import AuditAction, PairRelation
from hushan.service import Hushan
from hushan.tlog import maproot, merkle, smt
from hushan.tlog.certificate import (
    CertificateError,
    LegalBasis,
    body_text,
    signed_file,
    verify,
)
from hushan.tlog.entries import SYSTEM, LogEntry, PairState, PastHistory, _purge_earlier
from hushan.tlog.log import LogCorrupted
from hushan.tlog.note import Signer, open_checkpoint
from tests.locks import Interleaved


def friends(engine: Hushan, a: str, b: str, messages: int = 2) -> None:
    for user in (a, b):
        engine.create_user(user)
    engine.send_request(a, b, "hi")
    engine.accept_request(b, a)
    for i in range(messages):
        engine.send_message(a, b, f"m{i}")


def certify(engine: Hushan, a: str, b: str, **kw: Any) -> tuple[bytes, dict[str, Any]]:
    data = engine.log.certificate(a, b, kw.pop("basis", LegalBasis.USER_REQUEST), **kw)
    verdict = verify(data, engine.log.signer.verifier)
    return data, verdict.claims


def resign(engine: Hushan, body: dict[str, Any]) -> bytes:
    """A changed body signed again with the deployment key: what no attacker can do, but it
    lets each deeper check be tested on its own."""
    return signed_file(body, engine.log.signer.signature_line(body_text(body)))


def fails(data: bytes, engine: Hushan, reason: str, **kw: Any) -> None:
    with pytest.raises(CertificateError) as caught:
        verify(data, engine.log.signer.verifier, **kw)
    assert caught.value.reason == reason, caught.value


def test_mutual_delete_then_purge_is_certified_for_both_sides(
    engine: Hushan, clock: ManualClock
) -> None:
    friends(engine, "a", "b")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    _, buffered = certify(engine, "a", "b")
    assert buffered["relation"] == "none" and buffered["history_state"] == "buffered"
    assert buffered["purge_at"] is not None and buffered["key_destroyed_at"] is None
    assert [r["at"] for r in buffered["removals"]] and len(buffered["removals"]) == 2
    clock.advance(timedelta(days=31))
    engine.sweep()
    data, purged = certify(engine, "b", "a", basis=LegalBasis.GDPR_ART_17)
    assert purged["history_state"] == "purged" and purged["key_destroyed_reason"] == "purge_due"
    assert purged["purge_at"] == buffered["purge_at"]
    assert purged["key_destroyed_at"] is not None and purged["rows_purged_at"] is not None
    body = json.loads(data)["body"]
    assert body["legal_basis"] == "gdpr_art_17"
    assert "backups holding wrapped keys expire by" in body["scope"]["text"]
    assert body["previous"] is not None  # linked to the first certificate by consistency


def test_one_way_delete_and_block_delete(engine: Hushan) -> None:
    friends(engine, "a", "b")
    engine.delete_contact("a", "b")
    _, claims = certify(engine, "a", "b")
    assert claims["relation"] == "b_has_a" and claims["history_state"] == "active"
    _, seen_by_b = certify(engine, "b", "a")
    assert seen_by_b["relation"] == "a_has_b"
    friends(engine, "c", "d")
    engine.block_and_delete("c", "d")
    _, claims = certify(engine, "d", "c")
    assert claims["b_blocks_a"] and not claims["a_blocks_b"]
    assert claims["history_state"] == "purged" and claims["key_destroyed_reason"] == "block_delete"


def test_names_are_pseudonymous_unless_disclosed(engine: Hushan) -> None:
    friends(engine, "alice", "bob", messages=1)
    engine.send_message("alice", "bob", "a secret canary 7f3e")
    data, _ = certify(engine, "alice", "bob")
    assert b"alice" not in data and b"bob" not in data and b"canary" not in data
    exported = "\n".join(json.dumps(r) for r in engine.log.export())
    assert "alice" not in exported and "canary" not in exported
    data, _ = certify(engine, "alice", "bob", disclose=True)
    verdict = verify(data, engine.log.signer.verifier)
    assert verdict.disclosed == {"a": "alice", "b": "bob"}


def test_certificates_for_unknown_users_or_strangers_are_refused(engine: Hushan) -> None:
    engine.create_user("a")
    engine.create_user("b")
    with pytest.raises(UserNotFound):
        engine.log.certificate("a", "nobody", LegalBasis.USER_REQUEST)
    with pytest.raises(NothingToCertify):
        engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    with pytest.raises(UserNotFound) as caught:
        engine.log.certificate("nobody", "a", LegalBasis.USER_REQUEST)
    assert caught.value.message == "No such user: 'nobody'."
    friends(engine, "c", "d")  # the log has entries now, none of them a and b's
    with pytest.raises(NothingToCertify):
        engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)


# ---- tampering ---------------------------------------------------------------------------
@pytest.fixture
def issued(engine: Hushan, clock: ManualClock) -> tuple[Hushan, bytes]:
    friends(engine, "a", "b")
    engine.log.publish()  # an early checkpoint, of a shorter log
    friends(engine, "c", "d")  # other pairs' entries sit between a and b's
    engine.block("a", "b")
    engine.unblock("a", "b")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    clock.advance(timedelta(days=31))
    engine.sweep()
    data, _ = certify(engine, "a", "b")
    return engine, data


def test_any_changed_byte_fails(issued: tuple[Hushan, bytes]) -> None:
    engine, data = issued
    rng = random.Random(1)
    for position in [0, len(data) - 1, *rng.sample(range(len(data)), 150)]:
        changed = bytearray(data)
        changed[position] = (changed[position] + rng.randrange(1, 255)) % 256
        with pytest.raises(CertificateError):
            verify(bytes(changed), engine.log.signer.verifier)


def test_wrong_key_fails(issued: tuple[Hushan, bytes]) -> None:
    engine, data = issued
    with pytest.raises(CertificateError, match="signature"):
        verify(data, Signer.generate(engine.log.origin).verifier)


def _body(data: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(data)["body"]
    return body


def test_dropped_or_reordered_entries_fail(issued: tuple[Hushan, bytes]) -> None:
    engine, data = issued
    body = _body(data)
    assert len(body["entries"]) > 5
    for drop in (0, 3, len(body["entries"]) - 1):
        cut = {**body, "entries": body["entries"][:drop] + body["entries"][drop + 1 :]}
        with pytest.raises(CertificateError):
            verify(resign(engine, cut), engine.log.signer.verifier)
    swapped = list(body["entries"])
    swapped[2], swapped[3] = swapped[3], swapped[2]
    fails(resign(engine, {**body, "entries": swapped}), engine, "entries_out_of_order")


def test_a_claim_that_does_not_follow_fails(issued: tuple[Hushan, bytes]) -> None:
    engine, data = issued
    body = _body(data)
    lie = {**body, "claims": {**body["claims"], "history_state": "active"}}
    fails(resign(engine, lie), engine, "claims_do_not_follow_from_entries")


def test_swapped_checkpoint_and_foreign_proofs_fail(issued: tuple[Hushan, bytes]) -> None:
    engine, data = issued
    body = _body(data)
    friends(engine, "e", "f")  # the log grows and a newer checkpoint is signed
    newer = engine.log.publish()
    assert newer is not None
    swapped = {**body, "checkpoint": newer.note}
    fails(resign(engine, swapped), engine, "inclusion_root_mismatch")
    # Proofs from another tree (the newer one) under the original checkpoint.
    entries = [
        {**x, "proof": [p.hex() for p in engine.log.inclusion_proof(x["index"], newer.size)]}
        for x in body["entries"]
    ]
    fails(resign(engine, {**body, "entries": entries}), engine, "proof_hash_wrong_length")
    entries = [
        {
            **x,
            "proof": [
                base64.b64encode(p).decode()
                for p in engine.log.inclusion_proof(x["index"], newer.size)
            ],
        }
        for x in body["entries"]
    ]
    with pytest.raises(CertificateError, match="inclusion_root_mismatch"):
        verify(resign(engine, {**body, "entries": entries}), engine.log.signer.verifier)
    foreign = Signer.generate(engine.log.origin).sign(
        engine.log.signer.verifier.open(body["checkpoint"])
    )
    fails(
        resign(engine, {**body, "checkpoint": foreign}),
        engine,
        "checkpoint_signature_missing_for_key",
    )


def test_truncated_log_checkpoint_fails(issued: tuple[Hushan, bytes]) -> None:
    """A checkpoint of a shorter log (truncated) cannot prove entries beyond its end."""
    engine, data = issued
    body = _body(data)
    last = body["entries"][-1]
    with engine.store.read() as tx:
        short = [c for c in tx.checkpoints(0, 100) if c.size <= last["index"]][-1]
    truncated = {**body, "checkpoint": short.note}
    fails(resign(engine, truncated), engine, "inclusion_proof_too_long")
    beyond = {**truncated, "entries": [last]}
    fails(resign(engine, beyond), engine, "leaf_index_beyond_tree")


def test_the_log_refuses_to_sign_an_inconsistent_tree(engine: Hushan) -> None:
    friends(engine, "a", "b")
    signed = engine.log.publish()
    assert signed is not None
    # Rewrite history under the signed tree: its largest complete subtree.
    level = signed.size.bit_length() - 1
    with engine.store.write() as tx:
        tx._c.execute(  # type: ignore[attr-defined]
            "UPDATE log_nodes SET hash = ? WHERE level = ? AND idx = 0", (bytes(32), level)
        )
    engine.send_message("a", "b", "more")
    engine.send_request("a", "b")
    engine.delete_contact("a", "b")
    with pytest.raises(LogCorrupted, match=rf"^size \d+ is not consistent with {signed.size}$"):
        engine.log.publish()


def test_the_log_refuses_to_sign_a_shorter_log(sqlite_engine: Hushan) -> None:
    """A database put back to a state before its last signed checkpoint (its last entry
    gone) is refused: checkpoints only grow."""
    engine = sqlite_engine
    friends(engine, "a", "b", messages=0)
    signed = engine.log.publish()
    assert signed is not None
    with engine.store.write() as tx:
        for table, key in (("log_leaves", "idx"), ("audit_log", "seq")):
            tx._c.execute(  # type: ignore[attr-defined]
                f"DELETE FROM {table} WHERE {key} = (SELECT MAX({key}) FROM {table})"
            )
    with pytest.raises(LogCorrupted, match=rf"^the log shrank from {signed.size} to "):
        engine.log.publish()


def test_concurrent_publishers_build_one_consistent_log(engine: Hushan) -> None:
    """Publishers racing (threads here; workers in production) never store an entry twice
    or skip one, and every checkpoint extends the one before."""
    import threading

    from hushan.tlog import merkle
    from hushan.tlog.note import open_checkpoint

    users = [f"u{i}" for i in range(6)]
    for user in users:
        engine.create_user(user, verification_required=False)
    engine.log.batch = 7  # small steps: publishers often find another got there first
    stop = threading.Event()
    failures: list[BaseException] = []

    def publish_until_stopped() -> None:
        try:
            while not stop.is_set():
                engine.log.publish()
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=publish_until_stopped) for _ in range(3)]
    for thread in threads:
        thread.start()
    rng = random.Random(3)
    actions: list[Callable[[str, str], object]] = [
        engine.send_request,
        engine.delete_contact,
        engine.block,
        engine.unblock,
    ]
    try:
        for _ in range(300):
            a, b = rng.sample(users, 2)
            with contextlib.suppress(HushanError):  # refusals are part of the traffic
                rng.choice(actions)(a, b)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    final = engine.log.publish()
    assert final is not None
    with engine.store.read() as tx:
        leaves = tx.leaves(-1, 100_000)
        checkpoints = tx.checkpoints(0, 100_000)
        audit = tx.audit_entries(0, 100_000)
    entries = [leaf for leaf in leaves if leaf.user_lo != maproot.LEAF_USER]
    assert [leaf.seq for leaf in entries] == [entry.seq for entry in audit]
    assert [leaf.index for leaf in leaves] == list(range(len(leaves)))
    # Every checkpoint ends in its map-root leaf, and the last one's map is every pair's
    # latest entry, however the publishers interleaved.
    assert all(leaves[c.size - 1].user_lo == maproot.LEAF_USER for c in checkpoints)
    latest = {
        maproot.pair_key(leaf.entry): smt.map_value(leaf.pair_n, leaf.index, leaf.hash)
        for leaf in entries
    }
    assert maproot.decode(leaves[-1].entry).root == smt.root_of(latest)
    nodes: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        for level, index, digest in merkle.completed_nodes(
            leaf.index, merkle.leaf_hash(leaf.entry.encode()), lambda lv, i: nodes[lv, i]
        ):
            nodes[level, index] = digest
    verifier = engine.log.signer.verifier
    for older, newer in zip(checkpoints, checkpoints[1:], strict=False):
        assert open_checkpoint(older.note, verifier).root == merkle.root(
            older.size, lambda lv, i: nodes[lv, i]
        )
        proof = engine.log.consistency_proof(older.size, newer.size)
        merkle.verify_consistency(older.size, newer.size, older.root, newer.root, proof)
    assert final.size == len(leaves)


def test_consistency_with_a_checkpoint_the_holder_kept(engine: Hushan) -> None:
    friends(engine, "a", "b")
    kept = engine.log.publish()
    assert kept is not None
    friends(engine, "c", "d")
    engine.delete_contact("a", "b")
    data = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST, earlier_size=kept.size)
    verifier = engine.log.signer.verifier
    verify(data, verifier, earlier_checkpoint=kept.note)
    # Without the proof it carries, the kept checkpoint cannot be linked.
    plain = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    fails(plain, engine, "earlier_checkpoint_not_linked", earlier_checkpoint=kept.note)
    body = _body(data)
    broken = {
        **body,
        "earlier": {**body["earlier"], "consistency": body["earlier"]["consistency"][1:]},
    }
    fails(
        resign(engine, broken),
        engine,
        "earlier_consistency_proof_too_short",
        earlier_checkpoint=kept.note,
    )
    # A checkpoint signed by someone else is not the holder's evidence.
    forged = Signer.generate(engine.log.origin).sign(verifier.open(kept.note))
    fails(data, engine, "checkpoint_signature_missing_for_key", earlier_checkpoint=forged)
    with pytest.raises(EarlierSizeOutOfRange):
        engine.log.certificate("a", "b", LegalBasis.USER_REQUEST, earlier_size=10_000)


@pytest.mark.parametrize(
    "data",
    [
        b'{"body":{"x":"\\ud800"},"signature":""}\n',  # an escaped lone surrogate
        b'{"body":{"x":"\xed\xa0\x80"},"signature":""}\n',  # a surrogate in raw bytes
        b'{"body":{"x":' + b"9" * 5000 + b'},"signature":""}\n',  # beyond int parsing
        b"[" * 100_000,
        b"",
        b"\xff\xfe",
    ],
    ids=["escaped-surrogate", "raw-surrogate", "huge-number", "deep-nesting", "empty", "binary"],
)
def test_hostile_files_fail_cleanly(engine: Hushan, data: bytes) -> None:
    with pytest.raises(CertificateError):
        verify(data, engine.log.signer.verifier)


def test_type_confusions_fail(issued: tuple[Hushan, bytes]) -> None:
    engine, data = issued
    body = _body(data)
    zero = {**body["claims"], "a_blocks_b": 0}
    fails(resign(engine, {**body, "claims": zero}), engine, "claims_do_not_follow_from_entries")
    first = {**body["entries"][0], "index": True}
    bool_index = {**body, "entries": [first, *body["entries"][1:]]}
    fails(resign(engine, bool_index), engine, "entries_malformed")
    fails(resign(engine, {**body, "pair": {"a": 1, "b": 2}}), engine, "pair_malformed")
    fails(
        resign(engine, {**body, "origin": "other.example/log"}),
        engine,
        "origin_is_not_the_key_name",
    )
    missing = {k: v for k, v in body.items() if k != "disclosure"}
    fails(resign(engine, missing), engine, "body_fields_wrong")
    negative = {**body, "earlier": {"size": -3, "consistency": []}}
    fails(resign(engine, negative), engine, "earlier_malformed")
    fails(resign(engine, {**body, "legal_basis": "because"}), engine, "legal_basis_unknown")
    no_expiry = {**body, "scope": {**body["scope"], "backups_expire_by": None}}
    fails(resign(engine, no_expiry), engine, "scope_does_not_follow_from_entries")


def test_log_entries_are_decoded_strictly(issued: tuple[Hushan, bytes]) -> None:
    from hushan.tlog import entries as e

    _, data = issued
    texts = [x["entry"] for x in _body(data)["entries"]]
    for text in texts:
        e.decode(text)  # the real ones pass
    buffered = next(t for t in texts if '"history_buffered"' in t)
    blocked = next(t for t in texts if '"block_added"' in t)
    destroyed = next(t for t in texts if '"key_destroyed"' in t)
    broken = [
        buffered.replace('"v":1', '"v":1.0'),
        buffered.replace('"pair_n":', '"pair_n":true,"x":').split(',"x":')[0] + "}",
        buffered.replace('"history":"buffered"', '"history":5'),
        blocked.replace(blocked.split('"actor":"')[1][:64], "system"),
        destroyed.replace('"reason":"purge_due"', '"reason":"whim"'),
        buffered.replace('"at":"2', '"at":"\u0662'),
        buffered.replace('"a":"', '"a":"X'),
    ]
    for text in broken:
        with pytest.raises(e.EntryError) as refused:
            e.decode(text)
        assert str(refused.value) == refused.value.reason and refused.value.reason.startswith(
            "entry_"
        )


def tree_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's tree head over the leaf hashes, computed from scratch."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(tree_root(leaves[:split]), tree_root(leaves[split:]))


def test_the_export_rebuilds_every_checkpoint(engine: Hushan) -> None:
    """The export, page by page: every leaf in order, then every checkpoint from the first
    (of one entry and its map-root leaf) on; the tree rebuilt from the leaves gives each
    checkpoint's root."""
    engine.create_user("b")
    engine.create_user("c")
    engine.send_request("b", "c")
    first = engine.log.publish()
    assert first is not None
    engine.accept_request("c", "b")
    engine.log.publish()
    engine.delete_contact("b", "c")
    engine.log.publish()
    records = list(engine.log.export(batch=2))
    leaves = [r for r in records if "leaf" in r]
    notes = records[len(leaves) :]
    assert first.size == 2  # the entry, then the checkpoint's map-root leaf
    assert [set(r) for r in leaves] == [{"leaf", "entry"}] * len(leaves)
    assert [r["leaf"] for r in leaves] == list(range(len(leaves)))
    assert [set(r) for r in notes] == [{"checkpoint", "note"}] * len(notes)
    verifier = engine.log.signer.verifier
    sizes = [r["checkpoint"] for r in notes]
    assert sizes[0] == 2 and sizes == sorted(set(sizes)) and sizes[-1] == len(leaves)
    assert len(notes) == 3
    hashes = [merkle.leaf_hash(r["entry"].encode()) for r in leaves]
    for record in notes:
        checkpoint = open_checkpoint(record["note"], verifier, engine.log.origin)
        assert checkpoint.size == record["checkpoint"]
        assert checkpoint.root == tree_root(hashes[: checkpoint.size])


def test_the_export_keeps_a_checkpoint_of_one_leaf(engine: Hushan) -> None:
    """A log from before the map (migration 0017) can hold a checkpoint of size 1: one entry,
    no map-root leaf. The export starts its checkpoints from size 0, so it keeps that one."""
    engine.create_user("b")
    engine.create_user("c")
    engine.send_request("b", "c")
    published = engine.log.publish()
    assert published is not None
    with engine.store.write(log=True) as tx:
        tx.put_checkpoint(replace(published, size=1))
    sizes = [r["checkpoint"] for r in engine.log.export() if "checkpoint" in r]
    assert sizes == [1, published.size]


def body_of(data: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(data)["body"]
    return body


def test_a_pair_that_never_talked_is_certified_without_a_history(engine: Hushan) -> None:
    """Only a request between them: no conversation, so no history claims, and the scope says
    nothing was erased."""
    engine.create_user("a")
    engine.create_user("b")
    engine.send_request("a", "b", "hi")
    data, claims = certify(engine, "a", "b")
    assert claims["relation"] == "none"
    assert [claims[k] for k in ("history_state", "purge_at", "key_destroyed_at")] == [None] * 3
    assert claims["rows_purged_at"] is None
    assert body_of(data)["scope"] == {
        "covers": "server-side copies",
        "backups_expire_by": None,
        "text": "server-side copies; the history is not erased",
    }


def test_the_scope_of_an_erased_history_names_when_backups_expire(engine: Hushan) -> None:
    friends(engine, "a", "b")
    engine.block_and_delete("a", "b")
    data, claims = certify(engine, "a", "b")
    destroyed = datetime.fromisoformat(claims["key_destroyed_at"])
    expiry = iso_utc(destroyed + timedelta(days=35))  # the engine's backup retention
    assert body_of(data)["scope"] == {
        "covers": "server-side copies",
        "backups_expire_by": expiry,
        "text": f"server-side copies; backups holding wrapped keys expire by {expiry}",
    }


def test_previous_is_the_pairs_last_certificate(engine: Hushan) -> None:
    """A second certificate carries the first one's checkpoint, not another checkpoint of
    the log, and proves it consistent with its own."""
    friends(engine, "a", "b")
    engine.create_user("c")
    before = engine.log.publish()  # a checkpoint one entry short of the first certificate's
    engine.send_request("a", "c")
    first = body_of(engine.log.certificate("a", "b", LegalBasis.USER_REQUEST))
    assert before is not None
    engine.send_request("c", "b")
    engine.log.publish()
    engine.delete_contact("a", "b")
    second, _ = certify(engine, "b", "a")  # either side: the pair's last certificate
    previous = body_of(second)["previous"]
    assert previous["checkpoint"] == first["checkpoint"] != before.note
    assert body_of(engine.log.certificate("b", "a", LegalBasis.USER_REQUEST))["previous"] is None


def test_an_earlier_size_must_be_one_of_the_log(engine: Hushan) -> None:
    friends(engine, "a", "b")
    size = engine.log.publish().size  # type: ignore[union-attr]
    for wrong in (0, size + 1):
        with pytest.raises(EarlierSizeOutOfRange) as caught:
            engine.log.certificate("a", "b", LegalBasis.USER_REQUEST, earlier_size=wrong)
        expected = f"The log has {size} entries; {wrong} is not an earlier size of it."
        assert caught.value.message == expected


def test_a_certificate_is_recorded_under_both_users_locks(engine: Hushan) -> None:
    """...and what is left to integrate when its own transaction starts (at least an entry
    logged just before it) is integrated and signed there, under the log's lock."""
    friends(engine, "a", "b")
    engine.create_user("c")
    checked = Interleaved(engine.store, lambda: engine.send_request("c", "a"))
    engine.log.store = checked.store
    data, _ = certify(engine, "b", "a")
    assert checked.leaves_per_write[-1] >= 1  # the request at least, in the certificate's
    checkpoints = len(list(engine.store.dump_rows("log_checkpoints")))  # a map-root leaf each
    size = len(engine.audit_log()) + checkpoints
    assert verify(data, engine.log.signer.verifier).checkpoint.size == size
    assert checked.unlocked == []


@pytest.mark.timeout(60)
def test_publish_stores_a_backlog_one_batch_per_transaction(engine: Hushan) -> None:
    """The backlog is hashed outside the write lock and stored a batch per transaction; the
    transaction that signs adds at most the last partial batch, under the log's lock."""
    checked = Interleaved(engine.store)
    engine.log.store = checked.store
    engine.log.batch = 2
    friends(engine, "a", "b", messages=0)
    engine.delete_contact("a", "b")
    engine.send_request("a", "b")
    backlog = len(engine.audit_log())
    assert engine.log.head() == (0, 0) and backlog >= 5
    checkpoint = engine.log.publish()
    assert checkpoint is not None and checkpoint.size == backlog + 1  # and its map-root leaf
    assert checked.leaves_per_write == [2] * (backlog // 2) + [backlog % 2 + 1]
    assert checked.unlocked == []


def test_the_logs_proofs_verify_against_its_checkpoints(engine: Hushan) -> None:
    friends(engine, "a", "b")
    old = engine.log.publish()
    engine.delete_contact("a", "b")
    new = engine.log.publish()
    assert old is not None and new is not None and old.size < new.size
    assert {row[0] for row in engine.store.dump_rows("log_nodes")} == set(
        range(1, new.size.bit_length())
    )  # the levels above the leaves: a leaf's hash is stored once, in its own row
    proof = engine.log.consistency_proof(old.size, new.size)
    merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    for index in (0, new.size - 1):
        with engine.store.read() as tx:
            (leaf,) = tx.leaves(index - 1, 1)
        path = engine.log.inclusion_proof(index, new.size)
        merkle.verify_inclusion(index, new.size, leaf.hash, path, new.root)


def refriend(engine: Hushan, a: str, b: str) -> None:
    engine.send_request(a, b, "again")
    engine.accept_request(b, a)


@pytest.mark.parametrize("swept_before_certificate", [True, False])
def test_a_re_add_after_the_purge_date_certifies_the_earlier_history_as_purged(
    engine: Hushan, clock: ManualClock, swept_before_certificate: bool
) -> None:
    """Friends again after the window but before the sweep: the re-add destroys the key and
    starts a new history, and the sweep purges the old rows after that start. The rows purge
    is the earlier history's, not the new one's, in the claims and in what the entries say."""
    friends(engine, "a", "b")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    _, buffered = certify(engine, "a", "b")
    clock.advance(timedelta(days=31))
    refriend(engine, "a", "b")
    readded = clock.now()
    clock.advance(timedelta(seconds=5))
    if swept_before_certificate:
        engine.sweep()
    _, claims = certify(engine, "a", "b")
    assert claims["relation"] == "both_way" and claims["history_state"] == "active"
    assert claims["purge_at"] is None and claims["key_destroyed_at"] is None
    assert claims["rows_purged_at"] is None  # the new history keeps its rows
    (past,) = claims["history"]
    assert past["state"] == "purged" and past["purge_at"] == buffered["purge_at"]
    assert past["key_destroyed_at"] == iso_utc(readded)
    assert past["key_destroyed_reason"] == "purge_due"
    swept = iso_utc(clock.now()) if swept_before_certificate else None
    assert past["rows_purged_at"] == swept
    if not swept_before_certificate:  # swept later: a later certificate says so
        engine.sweep()
        _, later = certify(engine, "b", "a")
        assert later["history"][0]["rows_purged_at"] == iso_utc(clock.now())
        assert later["rows_purged_at"] is None and later["key_destroyed_at"] is None


def test_a_re_add_after_a_history_a_hold_kept_certifies_its_later_purge(
    engine: Hushan, clock: ManualClock
) -> None:
    """The hold keeps the old history past its date; the pair starts anew; once the hold is
    released the sweep destroys the old key and purges its rows, both after the new start."""
    friends(engine, "a", "b")
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    hold = engine.place_hold("a", "b", "case", "C-9")
    clock.advance(timedelta(days=31))
    engine.sweep()  # deferred: the hold keeps it
    refriend(engine, "a", "b")
    engine.send_message("a", "b", "new")
    _, held = certify(engine, "a", "b")
    assert held["history_state"] == "active" and held["key_destroyed_at"] is None
    assert held["history"][0]["state"] == "buffered"
    assert held["history"][0]["key_destroyed_at"] is None
    clock.advance(timedelta(seconds=5))
    engine.release_hold(hold.id)
    engine.sweep()
    _, claims = certify(engine, "b", "a")
    assert claims["history_state"] == "active" and claims["legal_hold"] is False
    assert claims["key_destroyed_at"] is None and claims["rows_purged_at"] is None
    (past,) = claims["history"]
    assert past["state"] == "purged" and past["key_destroyed_reason"] == "purge_due"
    assert past["key_destroyed_at"] == past["rows_purged_at"] == iso_utc(clock.now())


def test_a_late_rows_purge_goes_to_the_earlier_history_waiting_for_it() -> None:
    """Two earlier histories: the older with its key destroyed and rows still there, the newer
    kept whole (a legal hold kept its key). A `rows_purged` then is the older one's: the newer
    is not taken for purged."""
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 5)]
    older = PastHistory("purged", t[0], t[1], "expired", None)
    newer = PastHistory("buffered", t[2], None, None, None)
    state = PairState("a", "b", history=[older, newer])
    purge = LogEntry(
        t[3], AuditAction.ROWS_PURGED, SYSTEM, "a", "b", PairRelation.NONE, "purged", 9
    )
    _purge_earlier(state, purge, key=False)
    assert state.history == [replace(older, rows_purged_at=t[3]), newer]
    assert state.rows_purged_at is None  # not the current history's either
