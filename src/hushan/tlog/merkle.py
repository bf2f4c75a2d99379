"""Merkle tree hashing and proofs exactly as RFC 9162 (Certificate Transparency 2.0) section 2.1
defines them, so any RFC 6962/9162 verifier agrees with ours. No I/O: proofs are built from a
`NodeSource`, a function returning the stored hash of a complete subtree.

A complete subtree is named by (level, index): it covers leaves [index * 2**level,
(index + 1) * 2**level). Level 0 holds the leaf hashes. Only complete subtrees are ever stored;
the right edge of a tree whose size is not a power of two is recomputed from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

HASH_SIZE = 32
NodeSource = Callable[[int, int], bytes]


class ProofError(Exception):
    """A proof does not verify; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2): where RFC 9162 splits."""
    return 1 << ((size - 1).bit_length() - 1)


def completed_nodes(
    index: int, leaf: bytes, left_sibling: NodeSource
) -> Iterator[tuple[int, int, bytes]]:
    """The complete subtrees that appending `leaf` at `index` finishes, leaf first: the leaf,
    then each parent whose right child was just finished. `left_sibling(level, i)` returns
    stored nodes to the left."""
    level, position, current = 0, index, leaf
    yield level, position, current
    while position & 1:
        current = node_hash(left_sibling(level, position - 1), current)
        level, position = level + 1, position >> 1
        yield level, position, current


def subtree_hash(start: int, end: int, node: NodeSource) -> bytes:
    """MTH of leaves [start, end), for the ranges RFC 9162 proofs are made of: `start` is
    aligned to the largest power of two not above the range's size."""
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def root(size: int, node: NodeSource) -> bytes:
    return empty_root() if size == 0 else subtree_hash(0, size, node)


def inclusion_proof(index: int, size: int, node: NodeSource) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start += k
    proof.reverse()  # built top down; the proof runs from the leaf up
    return proof


def consistency_proof(old_size: int, new_size: int, node: NodeSource) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 2.1.4.1."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(subtree_hash(start, end, node))
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes]) -> None:
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("proof_hash_wrong_length")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """RFC 9162 2.1.3.2. Raises ProofError, returns None when the proof holds."""
    _check_hashes(proof)
    if not 0 <= index < size:
        raise ProofError("leaf_index_beyond_tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion_proof_too_long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion_proof_too_short")
    if r != expected_root:
        raise ProofError("inclusion_root_mismatch")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2. Raises ProofError, returns None when the proof holds."""
    _check_hashes(proof)
    if not 0 < old_size <= new_size:
        raise ProofError("consistency_sizes_out_of_order")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency_proof_not_empty")
        if old_root != new_root:
            raise ProofError("consistency_root_mismatch")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError("consistency_proof_empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency_proof_too_long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency_proof_too_short")
    if fr != old_root:
        raise ProofError("consistency_old_root_mismatch")
    if sr != new_root:
        raise ProofError("consistency_new_root_mismatch")
