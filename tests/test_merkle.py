"""RFC 9162 Merkle hashing and proofs: public known answers first, then properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hushan.tlog import merkle

VECTORS = json.loads((Path(__file__).parent / "vectors" / "transparency.json").read_text())
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaves_hex"]]
ROOTS = {int(n): bytes.fromhex(h) for n, h in VECTORS["roots"].items()}


def tree(leaves: list[bytes]) -> merkle.NodeSource:
    """Stored nodes for `leaves`, built the way the log builds them (append by append)."""
    nodes: dict[tuple[int, int], bytes] = {}
    for index, data in enumerate(leaves):
        for level, position, digest in merkle.completed_nodes(
            index, merkle.leaf_hash(data), lambda lv, i: nodes[lv, i]
        ):
            nodes[level, position] = digest
    return lambda level, index: nodes[level, index]


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC's recursive definition, sharing no code with the module."""
    if not leaves:
        return merkle.empty_root()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_rfc6962_hash_known_answers() -> None:
    h = VECTORS["rfc6962_hashes"]
    assert merkle.empty_root().hex() == h["empty_tree_root"]
    assert merkle.leaf_hash(b"").hex() == h["empty_leaf_hash"]
    assert merkle.leaf_hash(bytes.fromhex(h["leaf_input_hex"])).hex() == h["leaf_hash"]
    left, right = bytes.fromhex(h["node_left_hex"]), bytes.fromhex(h["node_right_hex"])
    assert merkle.node_hash(left, right).hex() == h["node_hash"]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_published_eight_leaf_tree(size: int) -> None:
    assert merkle.root(size, tree(LEAVES[:size])) == ROOTS[size]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}@{c['size']}")
def test_published_inclusion_proofs(case: dict[str, object]) -> None:
    index, size = int(case["index"]), int(case["size"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in case["proof"]]  # type: ignore[attr-defined]
    assert merkle.inclusion_proof(index, size, tree(LEAVES)) == expected
    merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAVES[index]), expected, ROOTS[size])


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"{c['size1']}->{c['size2']}"
)
def test_published_consistency_proofs(case: dict[str, object]) -> None:
    old, new = int(case["size1"]), int(case["size2"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in case["proof"]]  # type: ignore[attr-defined]
    assert merkle.consistency_proof(old, new, tree(LEAVES)) == expected
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], expected)


def test_published_proofs_fail_against_the_wrong_root() -> None:
    proof = merkle.inclusion_proof(5, 8, tree(LEAVES))
    with pytest.raises(merkle.ProofError, match="inclusion_root_mismatch"):
        merkle.verify_inclusion(5, 8, merkle.leaf_hash(LEAVES[5]), proof, ROOTS[7])
    with pytest.raises(merkle.ProofError, match="consistency"):
        merkle.verify_consistency(6, 8, ROOTS[5], ROOTS[8], [bytes(32)])


def _mutations(proof: list[bytes]) -> list[list[bytes]]:
    """Every way of breaking a proof by one step: a flipped bit in each hash, a hash left
    out, one added, and neighbours swapped."""
    broken = []
    for i, digest in enumerate(proof):
        flipped = bytes([digest[0] ^ 1]) + digest[1:]
        broken.append([*proof[:i], flipped, *proof[i + 1 :]])
        broken.append(proof[:i] + proof[i + 1 :])
        if i + 1 < len(proof) and proof[i] != proof[i + 1]:
            broken.append([*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]])
    broken.append([*proof, bytes(32)])
    broken.append([bytes(32), *proof])
    return broken


@settings(max_examples=150, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=8), min_size=1, max_size=70),
    data=st.data(),
)
def test_every_proof_verifies_and_every_broken_one_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    nodes = tree(leaves)
    n = len(leaves)
    m = data.draw(st.integers(1, n), label="m")
    index = data.draw(st.integers(0, m - 1), label="index")
    assert merkle.root(n, nodes) == reference_root(leaves)
    assert merkle.root(m, nodes) == reference_root(leaves[:m])
    root_m, root_n = merkle.root(m, nodes), merkle.root(n, nodes)
    leaf = merkle.leaf_hash(leaves[index])

    inclusion = merkle.inclusion_proof(index, m, nodes)
    merkle.verify_inclusion(index, m, leaf, inclusion, root_m)
    for broken in _mutations(inclusion):
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, m, leaf, broken, root_m)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, m, merkle.leaf_hash(leaves[index] + b"x"), inclusion, root_m)

    consistency = merkle.consistency_proof(m, n, nodes)
    merkle.verify_consistency(m, n, root_m, root_n, consistency)
    for broken in _mutations(consistency) if m < n else []:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(m, n, root_m, root_n, broken)
    if m < n:
        other = merkle.root(n, tree([*leaves[:-1], leaves[-1] + b"!"]))
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(m, n, root_m, other, consistency)


def test_sizes_out_of_range_are_refused() -> None:
    nodes = tree(LEAVES)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(8, 8, nodes)
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, 8, nodes)
    with pytest.raises(merkle.ProofError, match="leaf_index_beyond_tree"):
        merkle.verify_inclusion(8, 8, merkle.leaf_hash(b""), [], ROOTS[8])
    with pytest.raises(merkle.ProofError, match="consistency_sizes_out_of_order"):
        merkle.verify_consistency(8, 7, ROOTS[8], ROOTS[7], [])
