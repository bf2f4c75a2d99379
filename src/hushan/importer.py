"""Bulk import of an existing friend graph (`hushan import EDGES.csv`): how an app that already
has relationships moves them into hushan in one go.

Each input line is one edge, `owner,contact`: `owner` has `contact` in their list. A pair given
both ways is friends both ways; a pair given one way is as after a one-way delete. Every pair
gets an active conversation with its own data key, and the audit log gets what the service
would have written had the users added each other (each edge added by its owner, then the
conversation started), so certificates for imported pairs replay like any other. Each of those
entries is also an outbox event in the same transaction, as the service's would be: webhook
subscribers (an app backend mirroring the graph, a linked platform of an imported user) learn
of the imported relationships like of any other; `events=False` leaves them out, for an import
that seeds hushan from the very store those subscribers already hold.

The import is one transaction: a bad line, a pair hushan already holds, or a user pushed over
the friend limit refuses all of it, and nothing is written. It loads only pairs hushan holds
nothing of, so it never rewrites a relationship (or a deletion) hushan is keeping. The input
is read into temporary tables first, without the write lock; then other writers wait while it
is applied (reads go on).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from hushan.domain import rules
from hushan.domain.errors import (
    FriendLimitReached,
    ImportLineInvalid,
    ImportPairTaken,
    InvalidUserId,
)
from hushan.service import Hushan
from hushan.store.base import ImportCounts, StagedEdge, Tx

EDGES_PER_STAGE = 50_000
KEYS_PER_STEP = 10_000
HEADER = ["owner", "contact"]

# (what is being done, how many done, out of how many or None)
Progress = Callable[[str, int, int | None], None]


def _quiet(step: str, done: int, total: int | None) -> None:
    """The default progress listener: says nothing."""


def read_edges(lines: Iterable[str]) -> Iterator[StagedEdge]:
    """The edges of CSV lines `owner,contact` (an optional `owner,contact` header first, blank
    lines skipped); the first bad line raises `ImportLineInvalid` naming it."""
    for row in (reader := csv.reader(lines)):
        number = reader.line_num
        fields = [field.strip() for field in row]
        if not any(fields) or (number == 1 and fields == HEADER):
            continue
        if len(fields) != 2:
            raise ImportLineInvalid(
                f"Line {number}: expected two fields, owner,contact; found {len(fields)}."
            )
        owner, contact = fields
        for user_id in (owner, contact):
            try:
                rules.check_user_id(user_id)
            except InvalidUserId:
                raise ImportLineInvalid(
                    f"Line {number}: {user_id!r} is not a user id"
                    " (1-64 letters, digits, '_', '.' or '-')."
                ) from None
        if owner == contact:
            raise ImportLineInvalid(f"Line {number}: {owner!r} cannot have themselves.")
        yield StagedEdge(number, owner, contact)


@dataclass(frozen=True, slots=True)
class ImportResult:
    counts: ImportCounts
    # Refreshing the planner's statistics after the commit failed (the import stands).
    statistics_error: str | None = None


def import_edges(
    engine: Hushan,
    lines: Iterable[str],
    verification_required: bool = True,
    progress: Progress = _quiet,
    events: bool = True,
) -> ImportResult:
    """Load the edges of `lines` (see the module); `verification_required` is the 朋友验证
    setting of the users it creates (users already known keep theirs); `events` whether the
    audit entries go to the outbox too."""
    now = engine.clock.now()
    edges = read_edges(lines)
    store = engine.store
    with store.pinned():  # the staging tables are the connection's own
        try:
            # Staged before the write lock is taken: other writers do not wait for the reading.
            with store.scratch() as tx:
                staged = 0
                while chunk := list(itertools.islice(edges, EDGES_PER_STAGE)):
                    tx.stage_import(chunk)
                    staged += len(chunk)
                    progress("edges read", staged, None)
            if not staged:
                return ImportResult(ImportCounts(users=0, edges=0, pairs=0, audit_entries=0))
            with store.bulk_write() as tx:
                counts = _apply(engine, tx, now, verification_required, progress, events)
        finally:
            with store.scratch() as tx:
                tx.end_import()
    try:
        store.after_bulk_load()
    except Exception as error:  # the import is committed; only the statistics are stale
        return ImportResult(counts, statistics_error=str(error))
    return ImportResult(counts)


def _apply(
    engine: Hushan,
    tx: Tx,
    now: datetime,
    verification_required: bool,
    progress: Progress,
    events: bool,
) -> ImportCounts:
    progress("checking pairs", 0, None)
    taken = tx.taken_import_pair()
    if taken is not None:
        raise ImportPairTaken(
            f"Line {taken.line}: hushan already holds the pair {taken.owner!r} and"
            f" {taken.contact!r} (an edge, block, request or conversation); the import only"
            " loads pairs it holds nothing of. Nothing was imported."
        )
    progress("writing users, edges, conversations", 0, None)
    counts = tx.apply_import(now, verification_required)
    over = tx.import_over_limit(engine.limits.max_friends)
    if over is not None:
        user_id, contacts = over
        raise FriendLimitReached(
            f"User {user_id!r} would have {contacts} contacts, above the limit of"
            f" {engine.limits.max_friends}. Nothing was imported."
        )
    keyed, last = 0, 0
    progress("conversation keys", keyed, counts.pairs)
    while made := tx.imported_conversations(last, KEYS_PER_STEP):
        tx.insert_keys([(i, lo, engine.sealer.new_wrapped_key(i)) for i, lo in made])
        keyed, last = keyed + len(made), made[-1][0]
        progress("conversation keys", keyed, counts.pairs)
    progress("audit entries", 0, None)
    # Last: numbering audit entries holds the sequence lock until the commit.
    entries = tx.audit_import(now, events)
    return dataclasses.replace(counts, audit_entries=entries, events=entries if events else 0)
