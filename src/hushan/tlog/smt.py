"""The map of each pair's latest log entry: a sparse Merkle tree over 256-bit keys, with no I/O.

A subtree is named by its position (depth, prefix): the keys whose first `depth` bits are
`prefix`. Its hash is 32 zero bytes when it holds no key, its one key's leaf hash
`SHA-256(0x00 || key || value)` when it holds one (wherever it sits, as in Diem's Jellyfish
Merkle tree, so neither needs a 256-level chain of hashes), and `SHA-256(0x01 || left ||
right)` otherwise. The stored tree is made of those nodes only: each subtree with two or more
keys (a branch), and each key's leaf at the shallowest position it holds alone; nothing is
stored below a leaf or an empty position.

`MapUpdate` applies a batch of (key, value) updates on top of a `NodeFetch` (the stored nodes
of some positions, fetched together), rehashing each changed branch once. `prove` and
`verify` make and check a key's proof: its leaf's depth, a bitmap of the levels whose sibling
is not empty, and those siblings (root first), so a proof holds about log2(keys) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

KEY_BITS = 256
HASH_SIZE = 32
EMPTY = bytes(HASH_SIZE)
Position = tuple[int, int]  # (depth, the key's first `depth` bits as an int)


class MapProofError(Exception):
    """A map proof does not verify; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Node:
    """A stored node: a branch (`key` None) or one key's leaf (`key` and `value` set)."""

    hash: bytes
    key: bytes | None = None
    value: bytes | None = None


NodeFetch = Callable[[Sequence[Position]], dict[Position, Node]]


def map_key(ref_a: str, ref_b: str) -> bytes:
    """The pair's key: its two refs in ASCII order, so both holders name the same key."""
    lo, hi = sorted((ref_a, ref_b))
    return hashlib.sha256(f"hushan/map-key/v1\n{lo}\n{hi}".encode()).digest()


def map_value(pair_n: int, index: int, leaf_hash: bytes) -> bytes:
    """The value for a pair whose latest entry is its `pair_n`-th, at leaf `index`."""
    return hashlib.sha256(
        b"hushan/map-value/v1\n" + pair_n.to_bytes(8, "big") + index.to_bytes(8, "big") + leaf_hash
    ).digest()


def leaf_hash(key: bytes, value: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + key + value).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _position(key: int, depth: int) -> Position:
    return depth, key >> (KEY_BITS - depth)


def _bit(key: int, depth: int) -> int:
    """The bit of `key` that picks the child at `depth` (bit 0 is the key's highest)."""
    return (key >> (KEY_BITS - 1 - depth)) & 1


def root_of(entries: dict[bytes, bytes]) -> bytes:
    """The root of the map holding exactly `entries` (key -> value), built from nothing: what
    an auditor computes, and what the stored tree must agree with."""

    def subtree(keys: list[tuple[int, bytes, bytes]], depth: int) -> bytes:
        if not keys:
            return EMPTY
        if len(keys) == 1:
            return leaf_hash(keys[0][1], keys[0][2])
        left = [k for k in keys if not _bit(k[0], depth)]
        right = [k for k in keys if _bit(k[0], depth)]
        return node_hash(subtree(left, depth + 1), subtree(right, depth + 1))

    return subtree([(int.from_bytes(k), k, v) for k, v in entries.items()], 0)


class MapUpdate:
    """A batch of updates on top of the stored tree; `finish` gives the new root and the
    nodes to store (each changed position once, upserted)."""

    def __init__(self, fetch: NodeFetch) -> None:
        self._fetch = fetch
        self._nodes: dict[Position, Node | None] = {}  # fetched or changed; None: empty
        self._dirty: set[Position] = set()  # branches whose hash must be recomputed
        self._changed: set[Position] = set()
        self._made: set[Position] = set()  # branches this batch made: nothing stored below

    def _load(self, positions: Iterable[Position]) -> None:
        wanted = [p for p in dict.fromkeys(positions) if p not in self._nodes]
        if wanted:
            found = self._fetch(wanted)
            for position in wanted:
                self._nodes[position] = found.get(position)

    def _put(self, position: Position, node: Node | None) -> None:
        self._nodes[position] = node
        self._changed.add(position)

    def set_many(self, updates: Sequence[tuple[bytes, bytes]]) -> None:
        """Set each key to its value, in order (a later update of a key wins)."""
        latest = dict(updates)  # a pair with many entries in the batch is set once
        # The stored paths of every key first, one fetch per depth: then every insert below
        # runs on nodes already loaded (below a stored leaf or empty position nothing is stored).
        frontier = {int.from_bytes(key) for key in latest}
        depth = 0
        while frontier:
            self._load(_position(k, depth) for k in frontier)
            frontier = {
                k
                for k in frontier
                if (node := self._nodes[_position(k, depth)]) is not None and node.key is None
            }
            depth += 1
        for key, value in latest.items():
            self._set(key, value)

    def _set(self, key: bytes, value: bytes) -> None:
        whole = int.from_bytes(key)
        depth = 0
        while True:
            position = _position(whole, depth)
            node = self._nodes.get(position)
            if node is not None and node.key is None:
                self._dirty.add(position)
                depth += 1
                continue
            if node is not None and node.key != key:
                self._split(position, node, whole)
                continue  # the position is a branch now
            self._put(position, Node(leaf_hash(key, value), key, value))
            return

    def _split(self, position: Position, resident: Node, key: int) -> None:
        """Push the resident leaf down until it and `key` part, leaving branches above it."""
        assert resident.key is not None
        other = int.from_bytes(resident.key)
        depth = position[0]
        while _bit(other, depth) == _bit(key, depth):
            self._branch(_position(key, depth))
            depth += 1
        self._branch(_position(key, depth))
        self._put(_position(other, depth + 1), resident)

    def _branch(self, position: Position) -> None:
        self._put(position, Node(EMPTY))  # hashed in `finish`
        self._made.add(position)

    def finish(self) -> tuple[bytes, list[tuple[Position, Node]]]:
        """The new root, and every changed node with its position."""
        self._load([(0, 0)])  # the root, should no key have touched it
        order = sorted(self._dirty | self._made)
        self._load(
            child
            for depth, prefix in order
            if (depth, prefix) not in self._made  # below a new branch: only what this batch put
            for child in ((depth + 1, 2 * prefix), (depth + 1, 2 * prefix + 1))
        )
        for depth, prefix in reversed(order):  # deepest first: children before parents
            left = self._hash((depth + 1, 2 * prefix))
            right = self._hash((depth + 1, 2 * prefix + 1))
            self._put((depth, prefix), Node(node_hash(left, right)))
        return self._hash((0, 0)), [
            (p, node) for p in sorted(self._changed) if (node := self._nodes[p]) is not None
        ]

    def _hash(self, position: Position) -> bytes:
        node = self._nodes.get(position)  # loaded above, or empty below a new branch
        return EMPTY if node is None else node.hash


@dataclass(frozen=True)
class Proof:
    depth: int
    present: int  # bit (KEY_BITS - 1 - level) set: the sibling at that level is not empty
    siblings: tuple[bytes, ...]  # the non-empty siblings, root first


def prove(key: bytes, fetch: NodeFetch) -> tuple[Node, Proof]:
    """The key's leaf and its proof; KeyError when the map does not hold the key."""
    whole = int.from_bytes(key)
    siblings: list[bytes] = []
    present = 0
    depth = 0
    while True:
        position = _position(whole, depth)
        # Fetched with the position, for the branch it may be: a key's leaf ends the walk by
        # depth 256 at the latest, where there is no sibling below.
        below = 1 - _bit(whole, depth) if depth < KEY_BITS else 0
        sibling = (depth + 1, (position[1] << 1) | below)
        found = fetch([position, sibling] if depth < KEY_BITS else [position])
        node = found.get(position)
        if node is None or (node.key is not None and node.key != key):
            raise KeyError(key.hex())
        if node.key is not None:
            return node, Proof(depth, present, tuple(siblings))
        beside = found.get(sibling)
        if beside is not None:
            siblings.append(beside.hash)
            present |= 1 << (KEY_BITS - 1 - depth)
        depth += 1


def verify(key: bytes, value: bytes, proof: Proof, root: bytes) -> None:
    """Raises MapProofError unless `proof` shows `key` holding `value` in the map `root`."""
    if not 0 <= proof.depth <= KEY_BITS or proof.present >> KEY_BITS:
        raise MapProofError("map_proof_malformed")
    if proof.present & ((1 << (KEY_BITS - proof.depth)) - 1):
        raise MapProofError("map_proof_malformed")  # a sibling below the leaf
    if proof.present.bit_count() != len(proof.siblings):
        raise MapProofError("map_proof_malformed")
    if any(len(s) != HASH_SIZE for s in proof.siblings):
        raise MapProofError("map_proof_malformed")
    whole = int.from_bytes(key)
    current = leaf_hash(key, value)
    remaining = list(proof.siblings)
    for depth in reversed(range(proof.depth)):
        present = (proof.present >> (KEY_BITS - 1 - depth)) & 1
        sibling = remaining.pop() if present else EMPTY
        current = node_hash(sibling, current) if _bit(whole, depth) else node_hash(current, sibling)
    if current != root:
        raise MapProofError("map_proof_root_mismatch")
