"""The SQL of posts and layers (`hushan.domain.posts`), shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hushan.clock import from_micros, to_micros
from hushan.domain.posts import Audience, Layer, Post

if TYPE_CHECKING:
    from hushan.store.sql import Connection

# The whole visibility rule (hushan.domain.posts), for viewer ?1; `p` is the post.
_VISIBLE = """
(p.author_id = ?1 OR (
  EXISTS (SELECT 1 FROM edges WHERE owner_id = ?1 AND contact_id = p.author_id)
  AND EXISTS (SELECT 1 FROM edges WHERE owner_id = p.author_id AND contact_id = ?1
              AND layer = 'full')
  AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p.author_id AND blocked_id = ?1)
  AND (p.audience = 'all'
       OR (p.audience = 'except' AND NOT EXISTS (
             SELECT 1 FROM post_hidden_from h WHERE h.post_id = p.id AND h.user_id = ?1))
       OR (p.audience = 'tag' AND EXISTS (
             SELECT 1 FROM contact_tags t
             WHERE t.owner_id = p.author_id AND t.contact_id = ?1 AND t.tag = p.tag)))
))"""
_COLUMNS = "p.id, p.author_id, p.body, p.audience, p.created_at, p.tag"


def _post(row: Any) -> Post:
    return Post(int(row[0]), row[1], row[2], Audience(row[3]), from_micros(row[4]), row[5])


class PostsSql:
    """Mixed into `SqlTx`: posts, their audience, and the contacts' layers."""

    _c: Connection

    def insert_post(
        self,
        author: str,
        body: str,
        audience: Audience,
        hidden_from: Sequence[str],
        tag: str | None,
        now: datetime,
    ) -> int:
        row = self._c.execute(
            "INSERT INTO posts (author_id, body, audience, tag, created_at) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (author, body, audience.value, tag, to_micros(now)),
        ).fetchone()
        post_id = int(row[0])
        self._c.executemany(
            "INSERT INTO post_hidden_from (post_id, user_id) VALUES (?, ?)",
            [(post_id, user) for user in sorted(set(hidden_from))],
        )
        return post_id

    def feed(self, viewer: str, before_id: int, limit: int) -> list[Post]:
        """Posts the viewer may see, newest first: theirs and their contacts'."""
        rows = self._c.execute(
            f"SELECT {_COLUMNS} FROM posts p WHERE p.id < ?2 AND {_VISIBLE}"
            " ORDER BY p.id DESC LIMIT ?3",
            (viewer, before_id, limit),
        ).fetchall()
        return [_post(r) for r in rows]

    def posts_by(self, viewer: str, author: str, before_id: int, limit: int) -> list[Post]:
        rows = self._c.execute(
            f"SELECT {_COLUMNS} FROM posts p WHERE p.author_id = ?4 AND p.id < ?2"
            f" AND {_VISIBLE} ORDER BY p.id DESC LIMIT ?3",
            (viewer, before_id, limit, author),
        ).fetchall()
        return [_post(r) for r in rows]

    def set_layer(self, owner: str, contact: str, layer: Layer) -> bool:
        cur = self._c.execute(
            "UPDATE edges SET layer = ? WHERE owner_id = ? AND contact_id = ?",
            (layer.value, owner, contact),
        )
        return int(cur.rowcount) == 1

    def layers_by_contact(self, owner: str) -> dict[str, Layer]:
        rows = self._c.execute(
            "SELECT contact_id, layer FROM edges WHERE owner_id = ? AND layer <> 'full'",
            (owner,),
        ).fetchall()
        return {r[0]: Layer(r[1]) for r in rows}

    def tag_contact(self, owner: str, contact: str, tag: str) -> None:
        self._c.execute(
            "INSERT INTO contact_tags (owner_id, contact_id, tag) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (owner, contact, tag),
        )

    def untag_contact(self, owner: str, contact: str, tag: str) -> None:
        self._c.execute(
            "DELETE FROM contact_tags WHERE owner_id = ? AND contact_id = ? AND tag = ?",
            (owner, contact, tag),
        )

    def contact_tags(self, owner: str, contact: str) -> list[str]:
        rows = self._c.execute(
            "SELECT tag FROM contact_tags WHERE owner_id = ? AND contact_id = ? ORDER BY tag",
            (owner, contact),
        ).fetchall()
        return [r[0] for r in rows]

    def tags_by_contact(self, owner: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for contact, tag in self._c.execute(
            "SELECT contact_id, tag FROM contact_tags WHERE owner_id = ? ORDER BY contact_id, tag",
            (owner,),
        ):
            found.setdefault(contact, []).append(tag)
        return found
