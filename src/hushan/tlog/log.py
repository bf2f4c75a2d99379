"""The transparency log over the audit log: integration, signed checkpoints, proofs,
certificates and the export.

Each audit entry is written in the transaction of the change it records (Rule 7), and its
`seq` fixes its place in the log: leaf index = its rank in seq order, which is commit order
on SQLite's single writer. Hashing entries into the tree is a separate step, `integrate`, run
before every checkpoint (on the sweep's schedule and on demand), the way Certificate
Transparency logs separate sequencing from integration. Keeping the Merkle work out of the
write path is what keeps the log's cost off every relationship change (bench/).

The log never signs two inconsistent checkpoints: before signing size n it proves, from the
stored nodes, that the tree of the last signed size m is a prefix of the new one, and refuses
to sign otherwise. Checkpoints only grow; nodes and leaves are only ever inserted.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from hushan.clock import Clock, iso_utc
from hushan.domain.errors import (
    CannotCertifySelf,
    EarlierSizeOutOfRange,
    LogBehind,
    NothingToCertify,
    UserNotFound,
)
from hushan.domain.model import Conversation, HistoryEvent, PairStatus, ordered
from hushan.store.base import LogLeaf, Store, StoredCheckpoint, Tx
from hushan.tlog import entries as e
from hushan.tlog import maproot, merkle, smt
from hushan.tlog.certificate import (
    FORMAT,
    LegalBasis,
    body_text,
    claims_json,
    encode_map_proof,
    encode_proof,
    signed_file,
)
from hushan.tlog.note import Checkpoint, Signer
from hushan.tlog.witness import WitnessKey, add_checkpoint_request

INTEGRATE_PER_TRANSACTION = 5000
EXPORT_PAGE = 10_000  # leaves or checkpoints read per transaction by the export
# What a certificate request integrates itself at most, before and inside its transaction: a
# larger backlog is the worker's to integrate (`log_behind`), never a request's.
CERTIFICATE_CATCH_UP = 2 * INTEGRATE_PER_TRANSACTION
CERTIFICATE_IN_TRANSACTION = 1
_Row = TypeVar("_Row", LogLeaf, StoredCheckpoint)


@dataclass
class _Batch:
    """Entries ready to store, computed on top of the log as it was at `head` and the map as it
    was at `map_from` leaves."""

    head: tuple[int, int]
    map_from: int
    leaves: list[LogLeaf] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    pairs: dict[tuple[str, str], e.PairNames] = field(default_factory=dict)
    backlog: int = 0  # stored leaves the map had not covered yet (a log from before the map)
    # Each pair's last entry in the batch: (pair_n, leaf index, leaf hash) by map key.
    latest: dict[bytes, tuple[int, int, bytes]] = field(default_factory=dict)
    map_root: bytes = smt.EMPTY
    map_nodes: list[tuple[smt.Position, smt.Node]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.backlog + len(self.leaves)


class WitnessRefused(Exception):
    """A witness answered an add-checkpoint call with no cosignature (status and its text)."""


class LogCorrupted(Exception):
    """The stored tree is not an extension of the last signed checkpoint: refuse to sign."""


class TransparencyLog:
    def __init__(
        self, store: Store, signer: Signer, clock: Clock, backup_retention: timedelta
    ) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock
        self.backup_retention = backup_retention
        self.batch = INTEGRATE_PER_TRANSACTION  # entries per integration step

    @property
    def origin(self) -> str:
        return self.signer.name

    # ---- integration and checkpoints ---------------------------------------------------------
    def integrate(self, tx: Tx) -> int:
        """Append the next batch of audit entries not yet in the tree, inside `tx`."""
        batch = self._prepare(tx, self.batch)
        self._map_update(tx, batch)
        self._store_batch(tx, batch)
        return batch.done

    def publish(self) -> StoredCheckpoint | None:
        """Integrate everything logged so far and sign a checkpoint of it (None while the log
        is empty). With nothing new since the last checkpoint, that one is returned.

        The hashing is done on a read snapshot, outside the write lock, which is then taken
        only to store the result (if no one else integrated meanwhile): writers wait for a
        bulk insert, not for the hashing. The last few entries and the signature are done
        in one write transaction, so the checkpoint covers exactly what is stored."""
        self._catch_up()
        with self.store.write(log=True) as tx:
            while self.integrate(tx) == self.batch:
                pass
            return self._checkpoint(tx)

    def _catch_up(self, limit: int | None = None) -> bool:
        """Integrate whole batches, each hashed on a read snapshot and stored in a short write
        transaction, until less than a batch is left (True) or `limit` entries are done with
        more to come (False). The caller's own transaction integrates what is left."""
        done = 0
        while True:
            with self.store.read() as tx:
                batch = self._prepare(tx, self.batch)
                # The map only for a batch this loop stores: the rest is prepared again, in
                # the caller's transaction.
                if batch.done == self.batch and (limit is None or done < limit):
                    self._map_update(tx, batch)
            if batch.done < self.batch:
                return True
            if limit is not None and done >= limit:
                return False
            with self.store.write(log=True) as tx:
                # Else another publisher got there first.
                if tx.log_head() == batch.head and tx.map_head()[0] == batch.map_from:
                    self._store_batch(tx, batch)
            done += batch.done

    @staticmethod
    def _prepare(tx: Tx, limit: int) -> _Batch:
        """Leaves, nodes and map updates for the next `limit` audit entries, computed from
        `tx`'s view. A map behind the stored leaves (a log from before the map) is filled from
        them first, within the same `limit`."""
        head = tx.log_head()
        size, last_seq = head
        map_from, _ = tx.map_head()
        batch = _Batch(head, map_from)
        latest = batch.latest
        if map_from < size:
            behind = tx.leaves(map_from - 1, limit)
            batch.backlog = len(behind)
            limit -= len(behind)
            for leaf in behind:
                if leaf.user_lo != maproot.LEAF_USER:
                    latest[maproot.pair_key(leaf.entry)] = (leaf.pair_n, leaf.index, leaf.hash)
        keys: dict[tuple[str, str], bytes] = {}

        def stored(level: int, index: int) -> bytes:
            return batch.nodes.get((level, index)) or tx.node(level, index)

        for entry in tx.audit_entries(last_seq, limit):
            lo, hi = ordered(entry.user_a, entry.user_b)
            names = batch.pairs.get((lo, hi))
            if names is None:
                # A pair with no salt is new, or an erased account's whose salt went with the
                # erasure: its entries go on numbering after its leaves, under a new salt.
                salt, count = tx.log_pair(lo, hi) or (_new_salt(), tx.pair_leaf_count(lo, hi))
                names = batch.pairs[lo, hi] = e.PairNames(salt, count)
            text = names.encode(entry)
            digest = merkle.leaf_hash(text.encode())
            batch.leaves.append(LogLeaf(size, entry.seq, lo, hi, names.count, text, digest))
            key = keys.get((lo, hi))
            if key is None:
                key = keys[lo, hi] = smt.map_key(names.ref(lo), names.ref(hi))
            latest[key] = (names.count, size, digest)
            for level, index, node in merkle.completed_nodes(size, digest, stored):
                batch.nodes[level, index] = node
            size += 1
        return batch

    @staticmethod
    def _map_update(tx: Tx, batch: _Batch) -> None:
        """The map's new root and nodes for the batch's pairs, from `tx`'s view."""
        if batch.done:
            update = smt.MapUpdate(tx.map_nodes)
            update.set_many([(k, smt.map_value(*v)) for k, v in batch.latest.items()])
            batch.map_root, batch.map_nodes = update.finish()

    @staticmethod
    def _store_batch(tx: Tx, batch: _Batch) -> None:
        if not batch.done:
            return
        tx.append_leaves(batch.leaves)
        tx.put_nodes([(lv, i, node) for (lv, i), node in batch.nodes.items() if lv > 0])
        for (lo, hi), names in batch.pairs.items():
            tx.save_log_pair(lo, hi, names.salt, names.count)
        tx.put_map_nodes(batch.map_nodes)
        tx.set_map_head(batch.map_from + batch.done, batch.map_root)

    def _checkpoint(self, tx: Tx) -> StoredCheckpoint | None:
        """Sign a checkpoint of everything stored, ending in a map-root leaf (the latest
        checkpoint, when it already covers everything and ends in one)."""
        size, seq = tx.log_head()
        latest = tx.latest_checkpoint()
        if latest is not None and latest.size > size:
            raise LogCorrupted(f"the log shrank from {latest.size} to {size} leaves")
        if size == 0:
            return None
        if latest is not None and latest.size == size and self._ends_in_map_root(tx, size):
            return latest
        map_size, map_root = tx.map_head()
        if map_size != size:
            raise LogCorrupted(f"the map covers {map_size} of {size} leaves")
        now = self.clock.now()
        text = maproot.MapRoot(map_root, size, now).text()
        digest = merkle.leaf_hash(text.encode())
        user = maproot.LEAF_USER
        tx.append_leaves([LogLeaf(size, seq, user, user, size + 1, text, digest)])
        tx.put_nodes([n for n in merkle.completed_nodes(size, digest, tx.node) if n[0] > 0])
        size += 1
        tx.set_map_head(size, map_root)
        root = merkle.root(size, tx.node)
        if latest is not None:
            try:
                proof = merkle.consistency_proof(latest.size, size, tx.node)
                merkle.verify_consistency(latest.size, size, latest.root, root, proof)
            except merkle.ProofError as error:
                raise LogCorrupted(f"size {size} is not consistent with {latest.size}") from error
        note = self.signer.sign(Checkpoint(self.origin, size, root).text())
        checkpoint = StoredCheckpoint(size, root, note, now)
        tx.put_checkpoint(checkpoint)
        return checkpoint

    @staticmethod
    def _ends_in_map_root(tx: Tx, size: int) -> bool:
        """Whether the log's last leaf is a map-root leaf (a checkpoint signed before the map
        existed does not end in one, and is followed by one that does)."""
        (last,) = tx.leaves(size - 2, 1)
        return last.user_lo == maproot.LEAF_USER

    def head(self) -> tuple[int, int]:
        """(leaves in the tree, seq of the last audit entry integrated)."""
        with self.store.read() as tx:
            return tx.log_head()

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.store.read() as tx:
            return tx.latest_checkpoint()

    # ---- witnesses --------------------------------------------------------------------------
    def cosign(
        self, submit: Callable[[str], tuple[int, str, str]], witness: WitnessKey
    ) -> StoredCheckpoint:
        """Publish, send the checkpoint to a witness (C2SP tlog-witness add-checkpoint, through
        `submit`: request body -> status, content type, body) and keep its cosignature on the
        stored checkpoint. A first call learns the witness's size from its 409 reply."""
        checkpoint = self.publish()
        if checkpoint is None:
            raise WitnessRefused("the log is empty")
        old = 0
        for _ in range(2):
            proof = [] if old == 0 else self.consistency_proof(old, checkpoint.size)
            status, kind, text = submit(add_checkpoint_request(old, proof, checkpoint.note))
            if status != 409 or not kind.startswith("text/x.tlog.size"):
                break
            old = int(text.strip())
            if old > checkpoint.size:
                raise WitnessRefused(f"the witness has seen size {old}, beyond {checkpoint.size}")
        if status != 200:
            raise WitnessRefused(f"{status}: {text.strip()}")
        lines = "".join(line + "\n" for line in text.splitlines() if line.startswith("\u2014 "))
        if witness.cosigned_at(checkpoint.note + lines) is None:
            raise WitnessRefused("no valid cosignature from the witness's key")
        with self.store.write(log=True) as tx:
            tx.add_checkpoint_signatures(checkpoint.size, lines)
            (stored,) = tx.checkpoints(checkpoint.size - 1, 1)
        return stored

    # ---- proofs ---------------------------------------------------------------------------
    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.store.read() as tx:
            return merkle.inclusion_proof(index, size, tx.node)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self.store.read() as tx:
            return merkle.consistency_proof(old_size, new_size, tx.node)

    # ---- certificates -----------------------------------------------------------------------
    def certificate(
        self,
        holder: str,
        other: str,
        basis: LegalBasis,
        disclose: bool = False,
        earlier_size: int | None = None,
    ) -> bytes:
        """A signed deletion certificate for the pair, as the holder's side sees it. With
        `earlier_size`, it also carries a consistency proof from the log at that size (a
        checkpoint the holder kept) to the certificate's checkpoint."""
        if holder == other:
            raise CannotCertifySelf()
        if not self._catch_up(CERTIFICATE_CATCH_UP):  # the backlog first, in its own transactions
            raise LogBehind()
        with self.store.write(holder, other, log=True) as tx:
            # The rest in one transaction: the claims and the checkpoint see the same state.
            for user_id in (holder, other):
                if tx.get_user(user_id) is None:
                    raise UserNotFound(f"No such user: {user_id!r}.")
            for _ in range(CERTIFICATE_IN_TRANSACTION):
                if self.integrate(tx) < self.batch:
                    break
            else:
                raise LogBehind()
            checkpoint = self._checkpoint(tx)
            lo, hi = ordered(holder, other)
            found = tx.log_pair(lo, hi)
            if checkpoint is None or found is None:
                raise NothingToCertify()
            salt = found[0]
            leaves = tx.pair_leaves(lo, hi, checkpoint.size)
            (status,) = tx.pair_statuses([(holder, other)])
            conversation = tx.pair_facts(holder, other).conversation
            a, b = e.user_ref(salt, holder), e.user_ref(salt, other)
            body: dict[str, Any] = {
                "format": FORMAT,
                "origin": self.origin,
                "issued_at": iso_utc(self.clock.now()),
                "pair": {"a": a, "b": b},
                "claims": self._claims(status, conversation, leaves, a, b),
                "scope": self._scope(conversation),
                "legal_basis": basis.value,
                "entries": [
                    {
                        "index": leaf.index,
                        "entry": leaf.entry,
                        "proof": encode_proof(
                            merkle.inclusion_proof(leaf.index, checkpoint.size, tx.node)
                        ),
                    }
                    for leaf in leaves
                ],
                "checkpoint": checkpoint.note,
                "previous": self._previous(tx, lo, hi, checkpoint),
                "earlier": self._earlier(tx, earlier_size, checkpoint),
                "disclosure": {"salt": salt.hex(), "a": holder, "b": other} if disclose else None,
                "map": self._map(tx, checkpoint, leaves[-1], smt.map_key(a, b)),
            }
            tx.put_certificate(lo, hi, holder, checkpoint.size, self.clock.now())
        return signed_file(body, self.signer.signature_line(body_text(body)))

    @staticmethod
    def _claims(
        status: PairStatus,
        conversation: Conversation | None,
        leaves: list[LogLeaf],
        a: str,
        b: str,
    ) -> dict[str, Any]:
        """The claims from live state; only the lists of removals and of earlier histories,
        and whether a legal hold covers the history, come from the entries."""
        replayed = e.replay([e.decode(leaf.entry) for leaf in leaves], a, b)
        destroyed = conversation is not None and conversation.key_destroyed_at is not None
        reason = None
        if conversation is not None and destroyed:
            block = conversation.block_deleted
            reason = (HistoryEvent.BLOCK_DELETE if block else HistoryEvent.PURGE_DUE).value
        return claims_json(
            e.PairState(
                a=a,
                b=b,
                relation=status.relation,
                a_blocks_b=status.a_blocks_b,
                b_blocks_a=status.b_blocks_a,
                history_state=None if status.history_state is None else status.history_state.value,
                purge_at=None if conversation is None else conversation.purge_at,
                key_destroyed_at=None if conversation is None else conversation.key_destroyed_at,
                key_destroyed_reason=reason,
                rows_purged_at=None if conversation is None else conversation.rows_purged_at,
                removals=replayed.removals,
                legal_hold=replayed.legal_hold,
                history=replayed.history,
            )
        )

    def _scope(self, conversation: Conversation | None) -> dict[str, Any]:
        destroyed = None if conversation is None else conversation.key_destroyed_at
        if destroyed is None:
            return {
                "covers": "server-side copies",
                "backups_expire_by": None,
                "text": "server-side copies; the history is not erased",
            }
        expiry = iso_utc(destroyed + self.backup_retention)
        return {
            "covers": "server-side copies",
            "backups_expire_by": expiry,
            "text": f"server-side copies; backups holding wrapped keys expire by {expiry}",
        }

    @staticmethod
    def _map(tx: Tx, checkpoint: StoredCheckpoint, last: LogLeaf, key: bytes) -> dict[str, Any]:
        """The checkpoint's map-root leaf with its inclusion proof, and the pair's value in that
        map (its latest entry, which must be `last`) with the value's proof."""
        (root_leaf,) = tx.leaves(checkpoint.size - 2, 1)
        node, proof = smt.prove(key, tx.map_nodes)
        if node.value != smt.map_value(last.pair_n, last.index, last.hash):
            raise LogCorrupted(f"the map does not hold the pair's entry {last.pair_n}")
        return {
            "root_leaf": {
                "index": root_leaf.index,
                "entry": root_leaf.entry,
                "proof": encode_proof(
                    merkle.inclusion_proof(root_leaf.index, checkpoint.size, tx.node)
                ),
            },
            "key": key.hex(),
            "value": {
                "pair_n": last.pair_n,
                "index": last.index,
                "leaf_hash": base64.b64encode(last.hash).decode(),
            },
            "proof": encode_map_proof(proof),
        }

    @staticmethod
    def _previous(tx: Tx, lo: str, hi: str, checkpoint: StoredCheckpoint) -> dict[str, Any] | None:
        size = tx.last_certificate_size(lo, hi)
        if size is None or size == checkpoint.size:
            return None
        (older,) = tx.checkpoints(size - 1, 1)
        return {
            "checkpoint": older.note,
            "consistency": encode_proof(
                merkle.consistency_proof(older.size, checkpoint.size, tx.node)
            ),
        }

    @staticmethod
    def _earlier(tx: Tx, size: int | None, checkpoint: StoredCheckpoint) -> dict[str, Any] | None:
        if size is None:
            return None
        if not 0 < size <= checkpoint.size:
            raise EarlierSizeOutOfRange(
                f"The log has {checkpoint.size} entries; {size} is not an earlier size of it."
            )
        proof = merkle.consistency_proof(size, checkpoint.size, tx.node)
        return {"size": size, "consistency": encode_proof(proof)}

    # ---- export -----------------------------------------------------------------------------
    def export(self, batch: int = EXPORT_PAGE) -> Iterator[dict[str, Any]]:
        """Every leaf, then every checkpoint, as JSON-ready records (one per line)."""
        leaves = self._paged(lambda tx, after: tx.leaves(after, batch), lambda x: x.index, -1)
        for leaf in leaves:
            yield {"leaf": leaf.index, "entry": leaf.entry}
        notes = self._paged(lambda tx, after: tx.checkpoints(after, batch), lambda x: x.size, 0)
        for checkpoint in notes:
            yield {"checkpoint": checkpoint.size, "note": checkpoint.note}

    def _paged(
        self, page: Callable[[Tx, int], Sequence[_Row]], key: Callable[[_Row], int], start: int
    ) -> Iterator[_Row]:
        """Rows page by page (until a short page), each read in a transaction of its own."""
        after = start
        while rows := self._read_page(page, after):
            yield from rows
            after = key(rows[-1])

    def _read_page(self, page: Callable[[Tx, int], Sequence[_Row]], after: int) -> Sequence[_Row]:
        with self.store.read() as tx:
            return page(tx, after)


def _new_salt() -> bytes:
    return os.urandom(e.SALT_BYTES)
