"""The map-root leaf: the leaf the log appends just before signing each checkpoint, holding the
root of the map of each pair's latest entry (`hushan.tlog.smt`), how many leaves that map
covers (all those before it) and the checkpoint's time. Through the checkpoint's Merkle root the
signature covers all three, while the checkpoint stays the plain C2SP tlog-checkpoint.

It is canonical JSON like an audit entry's leaf, but with none of an entry's fields, so neither
can be read as the other.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from hushan.clock import iso_utc
from hushan.tlog import entries as e
from hushan.tlog import smt

KIND = "map_root"
FORMAT = 1
# The user columns of a map-root leaf's row: no user id can take this form (USER_ID_PATTERN).
LEAF_USER = "~map"
_KEYS = {"kind", "map", "size", "time", "v"}


@dataclass(frozen=True)
class MapRoot:
    root: bytes
    size: int  # the log leaves the map covers: every leaf before this one
    time: datetime

    def text(self) -> str:
        return e.canonical_json(
            {
                "kind": KIND,
                "map": base64.b64encode(self.root).decode(),
                "size": self.size,
                "time": iso_utc(self.time),
                "v": FORMAT,
            }
        )


def decode(text: str) -> MapRoot:
    """A map-root leaf, read strictly; EntryError("map_root_leaf_malformed") otherwise."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise e.EntryError("map_root_leaf_malformed") from None
    if not isinstance(value, dict) or set(value) != _KEYS or e.canonical_json(value) != text:
        raise e.EntryError("map_root_leaf_malformed")
    size, encoded = value["size"], value["map"]
    if value["kind"] != KIND or type(value["v"]) is not int or value["v"] != FORMAT:
        raise e.EntryError("map_root_leaf_malformed")
    if type(size) is not int or size < 0 or not isinstance(encoded, str):
        raise e.EntryError("map_root_leaf_malformed")
    try:
        root = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise e.EntryError("map_root_leaf_malformed") from None
    if len(root) != smt.HASH_SIZE:
        raise e.EntryError("map_root_leaf_malformed")
    return MapRoot(root, size, e.parse_time(value["time"], "map_root_leaf_malformed"))


def pair_key(entry: str) -> bytes:
    """The map key of the pair a stored audit entry's leaf belongs to."""
    value = json.loads(entry)
    return smt.map_key(value["a"], value["b"])
