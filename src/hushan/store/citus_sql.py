"""The statements that a Citus cluster cannot plan as the shared SQL writes them, written so
that it can (`PostgresStore(..., citus=True)`; README, "Scaling").

Citus runs a statement whose distributed tables are all reached by one user's id on that
user's shard, and one that joins co-located tables on their distribution columns on every
shard; it refuses a join of two tables on any other column, and subqueries correlated with a
list of pairs. Each statement here reads one distributed table at a time instead, and the
rows are put together in Python. The answers are the shared SQL's: the tests run both.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.groups import GroupInvitation
from hushan.domain.model import (
    FriendRequest,
    HistoryState,
    PairFacts,
    PairRelation,
    PairStatus,
    ordered,
)
from hushan.domain.notices import NoticeGrade
from hushan.domain.posts import Post
from hushan.domain.sync import ChangeKind, NewChange
from hushan.store.base import NO_LIMIT, ChatRow, ContactRow, StoredChange, StoredMessage
from hushan.store.bulk import PAIR_TABLES
from hushan.store.conversations_sql import CONVERSATION_COLUMNS, conversation_row, maybe_time
from hushan.store.orgs_sql import ERASED
from hushan.store.pairs_sql import _power_of_two_chunks
from hushan.store.posts_sql import _COLUMNS as _POST_COLUMNS
from hushan.store.posts_sql import _post
from hushan.store.requests_sql import _REQUEST_COLUMNS, _request

if TYPE_CHECKING:
    from hushan.store.sql import Connection


@functools.cache
def _directed_sql(table: str, owner: str, other: str, size: int) -> str:
    """Which of the (n, owner, other) rows given have a row in `table` (edges or blocks)."""
    rows = ", ".join(["(CAST(? AS INTEGER), CAST(? AS VARCHAR), CAST(? AS VARCHAR))"] * size)
    return (
        f"WITH wanted(n, owner, other) AS (VALUES {rows})"
        f" SELECT w.n FROM wanted AS w JOIN {table} AS t"
        f" ON t.{owner} = w.owner AND t.{other} = w.other"
    )


@functools.cache
def _conversations_sql(size: int) -> str:
    """The conversations of the (lo, hi) pairs given, the newest last."""
    rows = ", ".join(["(CAST(? AS VARCHAR), CAST(? AS VARCHAR))"] * size)
    return (
        f"WITH wanted(lo, hi) AS (VALUES {rows})"
        " SELECT c.user_lo, c.user_hi, c.state, c.purge_at, c.block_deleted"
        " FROM wanted AS w JOIN conversations AS c ON c.user_lo = w.lo AND c.user_hi = w.hi"
        " ORDER BY c.id"
    )


# No live hold covers the conversation `c` (holds_sql.HELD, negated): the same test, each part
# a set read from the coordinator's hold tables on its own, which Citus sends to the shards.
_NOT_HELD = (
    "c.user_lo NOT IN (SELECT user_lo FROM legal_holds"
    " WHERE user_hi IS NULL AND ended_at IS NULL AND user_lo IS NOT NULL)"
    " AND c.user_hi NOT IN (SELECT user_lo FROM legal_holds"
    " WHERE user_hi IS NULL AND ended_at IS NULL AND user_lo IS NOT NULL)"
    " AND (c.user_lo, c.user_hi) NOT IN (SELECT user_lo, user_hi FROM legal_holds"
    " WHERE user_hi IS NOT NULL AND ended_at IS NULL AND user_lo IS NOT NULL)"
    " AND c.id NOT IN (SELECT p.conversation_id FROM legal_hold_pins AS p"
    " JOIN legal_holds AS h ON h.id = p.hold_id WHERE h.ended_at IS NULL)"
)
_KINDS = {kind.value: kind for kind in ChangeKind}

# posts_sql._VISIBLE for viewer ?1 once the authors who let the viewer see their posts at all
# (contacts both ways, the viewer on the full layer, no block) are known: the array ?4.
_VISIBLE_FROM = """
(p.author_id = ?1 OR (p.author_id = ANY(?4) AND (p.audience = 'all'
   OR (p.audience = 'except' AND NOT EXISTS (
         SELECT 1 FROM post_hidden_from h WHERE h.post_id = p.id AND h.user_id = ?1))
   OR (p.audience = 'tag' AND EXISTS (
         SELECT 1 FROM contact_tags t
         WHERE t.owner_id = p.author_id AND t.contact_id = ?1 AND t.tag = p.tag)))))"""

# One user's side of a pair's facts (pairs_sql._FACTS_SQL): every table read by that user's id,
# so Citus runs it on the user's shard alone.
_SIDE_SQL = """
SELECT
  u.verification_required, u.contact_count, u.notice_grade,
  EXISTS (SELECT 1 FROM edges WHERE owner_id = ?1 AND contact_id = ?2),
  EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2),
  EXISTS (SELECT 1 FROM friend_requests WHERE from_id = ?2 AND to_id = ?1 AND status = 'pending'),
  EXISTS (SELECT 1 FROM devices WHERE user_id = ?1)
FROM (SELECT 1) AS one LEFT JOIN users AS u ON u.id = ?1
"""
# The pair's facts kept on the coordinator.
_LOCAL_SQL = """
SELECT
  EXISTS (SELECT 1 FROM removals WHERE remover_id = ?1 AND removed_id = ?2),
  EXISTS (SELECT 1 FROM removals WHERE remover_id = ?2 AND removed_id = ?1),
  EXISTS (SELECT 1 FROM proposals WHERE proposer_id = ?1 AND other_id = ?2
          AND status = 'pending' AND remove_anyway AND NOT spent)
"""

# A bulk import's staging tables are the coordinator session's own (temporary): Citus joins
# one with a distributed table only once it is read in a subquery or CTE of its own, whose
# rows it then sends to the workers; and it plans no subquery correlated with one. So the
# pairs hushan already holds are found by joins, one per table and direction.
_TAKEN_PAIR_SQL = (
    "WITH p AS (SELECT line, lo, hi FROM import_pairs) SELECT line, lo, hi FROM ("
    + " UNION ALL ".join(
        f"SELECT p.line, p.lo, p.hi FROM p JOIN {table} x ON x.{a} = p.{one} AND x.{b} = p.{two}"
        for table, a, b in PAIR_TABLES
        for one, two in (("lo", "hi"), ("hi", "lo"))
    )
    + ") s ORDER BY line LIMIT 1"
)
_ADD_COUNTS_SQL = (
    "UPDATE users SET contact_count = users.contact_count + c.n"
    " FROM (SELECT owner_id, n FROM import_counts) c WHERE users.id = c.owner_id"
)
_IMPORTED_CONVERSATIONS_SQL = (
    "CREATE TEMPORARY TABLE import_conversations AS"
    " WITH p AS (SELECT lo, hi FROM import_pairs) SELECT c.id AS id, p.lo AS lo, p.hi AS hi"
    " FROM p JOIN conversations c ON c.user_lo = p.lo AND c.user_hi = p.hi"
    " AND c.state = 'active'"
)
_OVER_LIMIT_SQL = (
    "WITH c AS (SELECT owner_id FROM import_counts) SELECT u.id, u.contact_count FROM c"
    " JOIN users u ON u.id = c.owner_id WHERE u.contact_count > ? ORDER BY u.id LIMIT 1"
)


class CitusSql:
    _c: Connection
    _changes_channel: str  # the NOTIFY channel of new feed changes (PostgresStore's)
    _not_held = _NOT_HELD  # for ConversationsSql.due_for_purge
    # for BulkImportSql
    _taken_pair_sql = _TAKEN_PAIR_SQL
    _add_counts_sql = _ADD_COUNTS_SQL
    _imported_conversations_sql = _IMPORTED_CONVERSATIONS_SQL
    _over_limit_sql = _OVER_LIMIT_SQL

    def pair_facts(self, actor: str, other: str) -> PairFacts:
        """As on one server, in four statements that each run on one node: the actor's shard,
        the other's, the pair's (its lower id's) and the coordinator's tables. A write holds
        both users' locks, so no change to the pair falls between them."""
        mine = self._c.execute(_SIDE_SQL, (actor, other)).fetchone()
        theirs = self._c.execute(_SIDE_SQL, (other, actor)).fetchone()
        removed, was_removed, proposed = self._c.execute(_LOCAL_SQL, (actor, other)).fetchone()
        lo, hi = ordered(actor, other)
        conversation = self._c.execute(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations"
            " WHERE user_lo = ? AND user_hi = ? ORDER BY id DESC LIMIT 1",
            (lo, hi),
        ).fetchone()
        return PairFacts(
            other_exists=theirs[0] is not None,
            other_requires_verification=bool(theirs[0]),
            actor_has_other=bool(mine[3]),
            other_has_actor=bool(theirs[3]),
            actor_blocks_other=bool(mine[4]),
            other_blocks_actor=bool(theirs[4]),
            actor_contacts=mine[1] or 0,
            other_contacts=theirs[1] or 0,
            requests_pending=bool(mine[5]) or bool(theirs[5]),
            conversation=None if conversation is None else conversation_row(conversation),
            actor_notice_grade=NoticeGrade(mine[2] or NoticeGrade.SILENT.value),
            actor_removed_other=bool(removed),
            other_removed_actor=bool(was_removed),
            actor_proposed_removal=bool(proposed),
            actor_has_device=bool(mine[6]),
            other_has_device=bool(theirs[6]),
        )

    def _directed(self, table: str, owner: str, other: str, rows: list[Any]) -> set[int]:
        """The numbers of the directed (n, owner, other) rows found in `table`."""
        sql = _directed_sql(table, owner, other, len(rows) // 3)
        return {int(r[0]) for r in self._c.execute(sql, rows)}

    def pair_statuses(self, pairs: Sequence[tuple[str, str]]) -> list[PairStatus]:
        found: dict[int, PairStatus] = {}
        for start, size in _power_of_two_chunks(len(pairs)):
            chunk = list(enumerate(pairs[start : start + size], start))
            # Numbered 2n for a -> b and 2n + 1 for b -> a.
            directed = [x for n, (a, b) in chunk for x in (2 * n, a, b, 2 * n + 1, b, a)]
            edges = self._directed("edges", "owner_id", "contact_id", directed)
            blocks = self._directed("blocks", "blocker_id", "blocked_id", directed)
            # As on one server, (lo, hi) is ordered here and not by the database's collation.
            spans = {ordered(a, b) for _, (a, b) in chunk}
            newest = {
                (lo, hi): rest
                for lo, hi, *rest in self._c.execute(
                    _conversations_sql(len(spans)), [x for span in sorted(spans) for x in span]
                )
            }
            for n, (a, b) in chunk:
                state, purge_at, block_deleted = newest.get(ordered(a, b), (None, None, None))
                found[n] = PairStatus(
                    user_a=a,
                    user_b=b,
                    relation=PairRelation.of(2 * n in edges, 2 * n + 1 in edges),
                    a_blocks_b=2 * n in blocks,
                    b_blocks_a=2 * n + 1 in blocks,
                    history_state=None if state is None else HistoryState(state),
                    purge_at=maybe_time(purge_at),
                    block_deleted=bool(block_deleted),
                )
        return [found[n] for n in range(len(pairs))]

    def list_contacts(self, owner: str, after: str = "", limit: int = NO_LIMIT) -> list[ContactRow]:
        # The contacts' names live on their own shards: a second statement fetches them.
        edges = self._c.execute(
            "SELECT contact_id, created_at FROM edges WHERE owner_id = ? AND contact_id > ?"
            " ORDER BY contact_id LIMIT ?",
            (owner, after, limit),
        ).fetchall()
        names = self._display_names([r[0] for r in edges])
        return [ContactRow(c, names.get(c, ""), from_micros(at)) for c, at in edges]

    def _display_names(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = self._c.execute("SELECT id, display_name FROM users WHERE id = ANY(?)", (ids,))
        return {str(r[0]): str(r[1]) for r in rows}

    def list_outgoing(
        self, from_id: str, now: datetime, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[FriendRequest]:
        # Requests live on their recipients' shards: the sender's contacts are read first.
        rows = self._c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM friend_requests AS r WHERE from_id = ?1"
            " AND status = 'pending' AND expires_at > ?2 AND id > ?3"
            " AND to_id NOT IN (SELECT contact_id FROM edges WHERE owner_id = ?1)"
            " ORDER BY id LIMIT ?4",
            (from_id, to_micros(now), after_id, limit),
        ).fetchall()
        return [_request(r) for r in rows]

    def chat_list(self, user_id: str, after: str = "", limit: int = NO_LIMIT) -> list[ChatRow]:
        # The messages are matched on their shard's key too: a join Citus runs on each shard.
        rows = self._c.execute(
            "SELECT CASE WHEN c.user_lo = ?1 THEN c.user_hi ELSE c.user_lo END, c.id,"
            " (SELECT max(created_at) FROM messages AS m"
            " WHERE m.user_lo = c.user_lo AND m.conversation_id = c.id)"
            " FROM conversations AS c"
            " WHERE (c.user_lo = ?1 AND c.user_hi > ?2 OR c.user_hi = ?1 AND c.user_lo > ?2)"
            " AND c.state = 'active' ORDER BY 1 LIMIT ?3",
            (user_id, after, limit),
        ).fetchall()
        return [ChatRow(r[0], r[1], maybe_time(r[2])) for r in rows]

    def add_changes(self, changes: Sequence[NewChange], now: datetime) -> None:
        """As on one server (`PostgresTx.add_changes`), in steps: who has a device, the heads
        of their feeds, the rows. The writer holds each user's lock, so the heads stay put."""
        users = sorted({c.user for c in changes})
        fed = {
            str(r[0])
            for r in self._c.execute(
                "SELECT DISTINCT user_id FROM devices WHERE user_id = ANY(?)", (users,)
            )
        }
        if not fed:
            return
        heads: dict[str, int] = {
            str(user): int(head)
            for user, head in self._c.execute(
                "SELECT user_id, max(seq) FROM changes WHERE user_id = ANY(?) GROUP BY user_id",
                (sorted(fed),),
            )
        }
        at, rows = to_micros(now), []
        for c in changes:
            if c.user in fed:
                heads[c.user] = heads.get(c.user, 0) + 1
                rows.append(
                    (c.user, heads[c.user], c.kind.value, c.other, c.conversation_id)
                    + (c.message_id, c.detail, at)
                )
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
        self._c.execute(
            "INSERT INTO changes (user_id, seq, kind, other_id, conversation_id, message_id,"
            f" detail, created_at) VALUES {values}",
            [value for row in rows for value in row],
        )
        self._c.execute(
            "SELECT pg_notify(?, u) FROM unnest(CAST(? AS TEXT[])) AS u",
            (self._changes_channel, sorted(fed)),
        )

    def changes_after(self, user_id: str, after: int, limit: int) -> list[StoredChange]:
        # A message lives on its pair's shard, not the user's: fetched by id afterwards.
        rows = self._c.execute(
            "SELECT seq, kind, other_id, conversation_id, detail, created_at, message_id"
            " FROM changes WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (user_id, after, limit),
        ).fetchall()
        wanted = [r[6] for r in rows if r[6] is not None]
        sent = (
            {
                int(r[0]): r[1:]
                for r in self._c.execute(
                    "SELECT id, sender_id, body, client_msg_id, user_lo FROM messages"
                    " WHERE id = ANY(?)",
                    (wanted,),
                )
            }
            if wanted
            else {}
        )
        found = []
        for seq, kind, other, conversation_id, detail, created_at, message_id in rows:
            at = from_micros(created_at)  # a message's change is made with the message
            message, lo = None, None
            if message_id in sent:
                sender, body, client_msg_id, lo = sent[message_id]
                message = StoredMessage(message_id, sender, body, at, client_msg_id)
            found.append(
                StoredChange(
                    seq, _KINDS[kind], at, other or "", conversation_id, message, detail, lo
                )
            )
        return found

    def _showing_authors(self, viewer: str, only: str | None = None) -> list[str]:
        """The viewer's contacts whose posts the viewer may see, read shard by shard: the
        viewer's edges, then the authors' edges back and blocks (posts_sql._VISIBLE)."""
        sql, params = "SELECT contact_id FROM edges WHERE owner_id = ?", [viewer]
        if only is not None:
            sql, params = sql + " AND contact_id = ?", [viewer, only]
        contacts = [str(r[0]) for r in self._c.execute(sql, params)]
        if not contacts:
            return []
        full = {
            str(r[0])
            for r in self._c.execute(
                "SELECT owner_id FROM edges WHERE owner_id = ANY(?) AND contact_id = ?"
                " AND layer = 'full'",
                (contacts, viewer),
            )
        }
        blocking = {
            str(r[0])
            for r in self._c.execute(
                "SELECT blocker_id FROM blocks WHERE blocker_id = ANY(?) AND blocked_id = ?",
                (sorted(full), viewer),
            )
        }
        return sorted(full - blocking)

    def feed(self, viewer: str, before_id: int, limit: int) -> list[Post]:
        rows = self._c.execute(
            f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.id < ?2 AND {_VISIBLE_FROM}"
            " ORDER BY p.id DESC LIMIT ?3",
            (viewer, before_id, limit, self._showing_authors(viewer)),
        ).fetchall()
        return [_post(r) for r in rows]

    def posts_by(self, viewer: str, author: str, before_id: int, limit: int) -> list[Post]:
        rows = self._c.execute(
            f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.author_id = ?5 AND p.id < ?2"
            f" AND {_VISIBLE_FROM} ORDER BY p.id DESC LIMIT ?3",
            (viewer, before_id, limit, self._showing_authors(viewer, author), author),
        ).fetchall()
        return [_post(r) for r in rows]

    def group_invitations(
        self, invitee: str, after_group: int = 0, limit: int = NO_LIMIT
    ) -> list[GroupInvitation]:
        # The invitee's blocks are a set read on their shard, the invitations the coordinator's.
        rows = self._c.execute(
            "SELECT i.group_id, g.name, i.inviter_id, i.created_at FROM group_invitations i"
            " JOIN groups g ON g.id = i.group_id"
            " WHERE i.invitee_id = ?1 AND i.group_id > ?2 AND NOT i.swallowed"
            " AND i.inviter_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?1)"
            " ORDER BY i.group_id LIMIT ?3",
            (invitee, after_group, limit),
        ).fetchall()
        return [GroupInvitation(int(r[0]), r[1], r[2], invitee, from_micros(r[3])) for r in rows]

    def _keep_feed_tombstone(self, user_id: str, tombstone: str) -> None:
        # A row cannot change its distribution column: the newest change is copied, blank, to
        # the tombstone's shard, and the user's own rows go with the rest of the feed after.
        self._c.execute(
            "INSERT INTO changes (user_id, seq, kind, other_id, conversation_id, message_id,"
            " detail, created_at) SELECT ?1, seq, 'gone', NULL, NULL, NULL, '', created_at"
            " FROM changes WHERE user_id = ?2 ORDER BY seq DESC LIMIT 1",
            (tombstone, user_id),
        )

    def _unname_in_handover_requests(self, user_id: str) -> None:
        # The handovers are the coordinator's, the requests their recipients' shards': the
        # pairs are read first, then each pair's requests changed on its shard.
        pairs = self._c.execute(
            "SELECT DISTINCT i.customer, i.successor FROM handover_items AS i"
            " JOIN handovers AS h ON h.id = i.handover_id WHERE h.member = ?",
            (user_id,),
        ).fetchall()
        self._c.executemany(
            "UPDATE friend_requests SET message = replace(message, ?, ?)"
            " WHERE from_id = ? AND to_id = ?",
            [(f" {user_id} ", f" {ERASED} ", customer, successor) for customer, successor in pairs],
        )

    def _rename_pair(self, table: str, old: tuple[str, str], new: tuple[str, str]) -> None:
        """As on one server (`ErasureSql._rename_pair`); but a row cannot change its
        distribution column, so a conversation named by a new lower id, with its key and
        messages, is copied to that id's shard and the old rows deleted."""
        if table != "conversations":
            self._c.execute(
                f"UPDATE {table} SET user_lo = ?, user_hi = ? WHERE user_lo = ? AND user_hi = ?",
                (*new, *old),
            )
            return
        if new[0] == old[0]:  # Citus refuses even to set the distribution column unchanged
            self._c.execute(
                "UPDATE conversations SET user_hi = ? WHERE user_lo = ? AND user_hi = ?",
                (new[1], *old),
            )
            return
        ids = [
            int(r[0])
            for r in self._c.execute(
                "SELECT id FROM conversations WHERE user_lo = ? AND user_hi = ?", old
            )
        ]
        rest = CONVERSATION_COLUMNS.removeprefix("id, user_lo, user_hi, ")
        self._c.execute(
            f"INSERT INTO conversations ({CONVERSATION_COLUMNS}) SELECT id, ?, ?, {rest}"
            " FROM conversations WHERE user_lo = ? AND user_hi = ?",
            (*new, *old),
        )
        for kept, columns in (
            ("conversation_keys", "conversation_id, wrapped_key"),
            ("messages", "id, conversation_id, sender_id, body, created_at, client_msg_id"),
        ):
            self._c.execute(
                f"INSERT INTO {kept} (user_lo, {columns}) SELECT ?, {columns} FROM {kept}"
                " WHERE user_lo = ? AND conversation_id = ANY(?)",
                (new[0], old[0], ids),
            )
            self._c.execute(
                f"DELETE FROM {kept} WHERE user_lo = ? AND conversation_id = ANY(?)", (old[0], ids)
            )
        self._c.execute("DELETE FROM conversations WHERE user_lo = ? AND user_hi = ?", old)
