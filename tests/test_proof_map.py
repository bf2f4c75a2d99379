"""The map of each pair's latest entry: the sparse Merkle tree on its own, the map the log keeps
beside its tree on both backends, and what it lets a verifier say about a certificate (not cut
short, as of a signed time, current or stale)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from datetime import timedelta

import pytest

from hushan.clock import ManualClock
from hushan.service import Hushan
from hushan.tlog import maproot, smt
from hushan.tlog.certificate import CertificateError, LegalBasis, verify
from hushan.tlog.log import LogCorrupted

# ---- the tree, with no I/O -------------------------------------------------------------------


class Memory:
    """Stored map nodes in a dict: what the tables hold, and how many fetches were made."""

    def __init__(self) -> None:
        self.nodes: dict[smt.Position, smt.Node] = {}
        self.fetches = 0

    def fetch(self, positions: Sequence[smt.Position]) -> dict[smt.Position, smt.Node]:
        self.fetches += 1
        return {p: self.nodes[p] for p in positions if p in self.nodes}

    def apply(self, updates: Sequence[tuple[bytes, bytes]]) -> bytes:
        update = smt.MapUpdate(self.fetch)
        update.set_many(updates)
        root, changed = update.finish()
        self.nodes.update(changed)
        return root


def key(n: int) -> bytes:
    return hashlib.sha256(b"key %d" % n).digest()


def value(n: int) -> bytes:
    return hashlib.sha256(b"value %d" % n).digest()


def test_the_empty_map_and_a_map_of_one_key() -> None:
    assert smt.root_of({}) == smt.EMPTY == bytes(32)
    assert smt.root_of({key(1): value(1)}) == smt.leaf_hash(key(1), value(1))
    memory = Memory()
    assert memory.apply([(key(1), value(1))]) == smt.leaf_hash(key(1), value(1))
    leaf, proof = smt.prove(key(1), memory.fetch)
    assert (leaf.key, leaf.value, proof) == (key(1), value(1), smt.Proof(0, 0, ()))


def test_batches_of_updates_give_the_root_built_from_nothing_and_proofs_that_hold() -> None:
    rng = random.Random(5)
    memory, latest = Memory(), dict[bytes, bytes]()
    for _ in range(12):
        batch = [(key(rng.randrange(300)), value(rng.randrange(10**6))) for _ in range(40)]
        root = memory.apply(batch)
        latest.update(batch)  # a key set twice in a batch keeps its last value
        assert root == smt.root_of(latest)
    for k, v in latest.items():
        leaf, proof = smt.prove(k, memory.fetch)
        assert leaf.value == v
        smt.verify(k, v, proof, root)
        assert len(proof.siblings) == proof.present.bit_count() <= proof.depth
    with pytest.raises(KeyError):
        smt.prove(key(10**6), memory.fetch)


def test_keys_that_share_a_long_prefix_are_split_where_they_part() -> None:
    """Two keys differing only in their last bit sit 256 levels down, every sibling above them
    empty: the proof holds one hash and a bitmap, not 255 empty siblings."""
    low = bytes(31) + b"\x00"
    high = bytes(31) + b"\x01"
    memory = Memory()
    root = memory.apply([(low, value(1))])
    root = memory.apply([(high, value(2))])
    assert root == smt.root_of({low: value(1), high: value(2)})
    _, proof = smt.prove(high, memory.fetch)
    assert proof.depth == 256 and proof.present == 1 and len(proof.siblings) == 1
    smt.verify(high, value(2), proof, root)
    with pytest.raises(smt.MapProofError, match="map_proof_root_mismatch"):
        smt.verify(low, value(2), proof, root)


def test_a_batch_reads_the_stored_paths_a_level_at_a_time() -> None:
    memory = Memory()
    memory.apply([(key(n), value(n)) for n in range(2000)])
    memory.fetches = 0
    memory.apply([(key(n), value(n + 1)) for n in range(0, 2000, 4)])
    assert memory.fetches < 40  # per depth, not per key


def test_a_proof_of_a_big_map_stays_small() -> None:
    """The bar: a map proof under 2 KB, as the certificate carries it (JSON, base64)."""
    memory = Memory()
    for start in range(0, 20_000, 5000):
        root = memory.apply([(key(n), value(n)) for n in range(start, start + 5000)])
    _, proof = smt.prove(key(7), memory.fetch)
    smt.verify(key(7), value(7), proof, root)
    encoded = json.dumps(
        {
            "depth": proof.depth,
            "present": proof.present.to_bytes(32).hex(),
            "siblings": [s.hex() for s in proof.siblings],
        }
    )
    assert len(encoded) < 2048


# ---- the log's map, on both backends ---------------------------------------------------------


def friends(engine: Hushan, a: str, b: str) -> None:
    engine.send_request(a, b, "hi")
    engine.accept_request(b, a)


def body(data: bytes) -> dict[str, object]:
    found: dict[str, object] = json.loads(data)["body"]
    return found


def test_every_checkpoint_ends_in_its_map_root_leaf(engine: Hushan, clock: ManualClock) -> None:
    for user in "abc":
        engine.create_user(user)
    friends(engine, "a", "b")
    first = engine.log.publish()
    clock.advance(timedelta(seconds=5))
    friends(engine, "a", "c")
    second = engine.log.publish()
    assert first is not None and second is not None
    with engine.store.read() as tx:
        leaves = tx.leaves(-1, 1000)
    for checkpoint in (first, second):
        leaf = leaves[checkpoint.size - 1]
        assert leaf.user_lo == maproot.LEAF_USER
        found = maproot.decode(leaf.entry)
        assert (found.size, found.time) == (checkpoint.size - 1, checkpoint.published_at)
    assert engine.log.publish() == second  # nothing new: no new leaf, no new checkpoint


def test_a_log_from_before_the_map_fills_it_and_signs_a_checkpoint_that_binds_it(
    engine: Hushan,
) -> None:
    for user in "ab":
        engine.create_user(user)
    friends(engine, "a", "b")
    engine.log.publish()
    with engine.store.write(log=True) as tx:  # the map as a log from before it has it
        tx._c.execute("DELETE FROM log_map_nodes")  # type: ignore[attr-defined]
        tx._c.execute("DELETE FROM log_map_head")  # type: ignore[attr-defined]
    engine.log.batch = 2  # the backlog in several batches
    data = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    verdict = verify(data, engine.log.signer.verifier)
    assert verdict.map_checked and verdict.latest_pair_n == verdict.entries


def test_the_log_refuses_to_sign_when_the_map_is_behind(engine: Hushan) -> None:
    engine.create_user("a")
    engine.create_user("b")
    friends(engine, "a", "b")
    with engine.store.write(log=True) as tx:
        engine.log.integrate(tx)
        tx.set_map_head(0, smt.EMPTY)
        size, _ = tx.log_head()
        with pytest.raises(LogCorrupted, match=rf"^the map covers 0 of {size} leaves$"):
            engine.log._checkpoint(tx)


def test_the_log_refuses_to_certify_from_a_map_that_lost_the_pairs_entry(engine: Hushan) -> None:
    for user in "ab":
        engine.create_user(user)
    friends(engine, "a", "b")
    engine.log.publish()
    with engine.store.write(log=True) as tx:
        tx._c.execute(  # type: ignore[attr-defined]
            "UPDATE log_map_nodes SET map_value = ? WHERE map_key IS NOT NULL", (bytes(32),)
        )
    with pytest.raises(LogCorrupted, match=r"^the map does not hold the pair's entry 5$"):
        engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)


# ---- what a verifier can now say -------------------------------------------------------------


def test_a_certificate_states_its_checkpoint_and_time(engine: Hushan, clock: ManualClock) -> None:
    for user in "ab":
        engine.create_user(user)
    friends(engine, "a", "b")
    data = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    verdict = verify(data, engine.log.signer.verifier)
    assert verdict.time == clock.now() and verdict.latest_pair_n == verdict.entries
    clock.advance(timedelta(hours=2))
    verifier = engine.log.signer.verifier
    verify(data, verifier, max_age=timedelta(hours=2), now=clock.now())
    with pytest.raises(CertificateError, match="certificate_too_old"):
        verify(data, verifier, max_age=timedelta(hours=1), now=clock.now())


def test_a_certificate_from_before_a_re_add_is_stale_and_says_from_which_entry(
    engine: Hushan, clock: ManualClock
) -> None:
    """The issue's case: issued while friends, then both deleted, the history purged, and
    friends again. The old certificate still verifies on its own; beside a later one it is
    stale. The later one's claims keep the earlier history's purge."""
    for user in "ab":
        engine.create_user(user)
    friends(engine, "a", "b")
    old = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    verifier = engine.log.signer.verifier
    same = engine.log.certificate("b", "a", LegalBasis.USER_REQUEST)
    assert verify(old, verifier, later=same).freshness == "current"
    shown = verify(old, verifier).entries
    engine.delete_contact("a", "b")
    engine.delete_contact("b", "a")
    clock.advance(timedelta(days=31))
    engine.sweep()
    friends(engine, "a", "b")
    new = engine.log.certificate("b", "a", LegalBasis.USER_REQUEST)
    latest = verify(new, verifier).latest_pair_n
    assert latest is not None and latest > shown
    stale = verify(old, verifier, later=new).freshness
    assert stale == f"stale: later entries exist (pair_n {shown + 1}..{latest})"
    with pytest.raises(CertificateError, match="later_certificate_is_older"):
        verify(new, verifier, later=old)
    claims = verify(new, verifier).claims
    assert claims["history_state"] == "active" and claims["key_destroyed_at"] is None
    (past,) = claims["history"]
    assert past["state"] == "purged" and past["key_destroyed_reason"] == "purge_due"
    assert None not in (past["purge_at"], past["key_destroyed_at"], past["rows_purged_at"])
    assert len(claims["removals"]) == 2  # both deletions, from before the re-add
    assert verify(old, verifier).claims["history"] == []


def test_a_certificate_cut_short_and_signed_with_the_real_key_is_refused(engine: Hushan) -> None:
    from hushan.tlog.certificate import body_text, claims_json, signed_file
    from hushan.tlog.entries import decode, replay

    for user in "ab":
        engine.create_user(user)
    friends(engine, "a", "b")
    engine.delete_contact("a", "b")
    engine.send_request("a", "b")
    full = json.loads(engine.log.certificate("a", "b", LegalBasis.USER_REQUEST))["body"]
    cut = full["entries"][:2]
    state = replay([decode(x["entry"]) for x in cut], full["pair"]["a"], full["pair"]["b"])
    lie = {**full, "entries": cut, "claims": claims_json(state)}
    signer = engine.log.signer
    data = signed_file(lie, signer.signature_line(body_text(lie)))
    with pytest.raises(CertificateError) as caught:
        verify(data, signer.verifier)
    assert caught.value.reason == "pair_entries_truncated"
    assert (
        caught.value.detail == f"the map holds pair_n {len(full['entries'])}, the entries end at 2"
    )
