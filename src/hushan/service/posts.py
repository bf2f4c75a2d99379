"""Posts and the social layers (`hushan.domain.posts`), as engine calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hushan.domain import posts, rules
from hushan.domain.errors import NotInYourContacts, UserNotFound
from hushan.domain.posts import Audience, Layer, Post
from hushan.service.engine import NO_ID_ABOVE
from hushan.service.notices import NoticesService
from hushan.store.base import NO_LIMIT, ContactRow


@dataclass(frozen=True, slots=True)
class PostsView:
    posts: list[Post]
    removed_you_at: datetime | None  # only where the author's grade discloses it


@dataclass(frozen=True, slots=True)
class LabelledContact:
    """A contact with the tags and the layer the owner gave them."""

    contact: ContactRow
    tags: list[str]
    layer: Layer


class PostsService(NoticesService):
    """Posts with an audience, the feed, contact tags and layers."""

    def create_post(
        self,
        actor: str,
        body: str,
        audience: Audience = Audience.ALL,
        hidden_from: Sequence[str] = (),
        tag: str | None = None,
    ) -> Post:
        rules.check_message_body(body, self.limits.max_message_chars)
        for user_id in hidden_from:
            rules.check_user_id(user_id)
        tag = posts.check_tag(tag) if audience is Audience.TAG else None
        now = self.clock.now()
        hidden = hidden_from if audience is Audience.EXCEPT else ()
        with self.store.write(actor) as tx:
            if tx.get_user(actor) is None:
                raise UserNotFound()
            post_id = tx.insert_post(actor, body, audience, hidden, tag, now)
        return Post(post_id, actor, body, audience, now, tag)

    def feed(self, actor: str, before_id: int | None = None, limit: int = 20) -> list[Post]:
        with self.store.read() as tx:
            return tx.feed(actor, NO_ID_ABOVE if before_id is None else before_id, limit)

    def posts_by(
        self, actor: str, author: str, before_id: int | None = None, limit: int = 20
    ) -> PostsView:
        """The author's posts as the actor may see them. Where the author removed the actor
        under a grade that discloses it, the view says so (and looking is the `on_contact`
        moment); under `silent` the posts just stop showing."""
        removal = None if actor == author else self._look_at(actor, author)[1]
        with self.store.read() as tx:
            before = NO_ID_ABOVE if before_id is None else before_id
            posts = tx.posts_by(actor, author, before, limit)
        return PostsView(posts, None if removal is None else removal.at)

    def tag_contact(self, actor: str, other: str, tag: str, on: bool = True) -> list[str]:
        """Give a contact a tag (or take it away); the other side is not told."""
        rules.check_not_self(actor, other)
        posts.check_tag(tag)
        with self.store.write(actor, other) as tx:
            if not self._facts(tx, actor, other).actor_has_other:
                raise NotInYourContacts()
            if on:
                tx.tag_contact(actor, other, tag)
            else:
                tx.untag_contact(actor, other, tag)
            return tx.contact_tags(actor, other)

    def contact_tags(self, actor: str, other: str) -> list[str]:
        with self.store.read() as tx:
            return tx.contact_tags(actor, other)

    def labelled_contacts(
        self, actor: str, after: str = "", limit: int = NO_LIMIT
    ) -> list[LabelledContact]:
        """The actor's contacts (by id) with their tags and layers, in one read."""
        with self.store.read() as tx:
            rows = tx.list_contacts(actor, after, limit)
            tags = tx.tags_by_contact(actor)
            layers = tx.layers_by_contact(actor)
        return [
            LabelledContact(row, tags.get(row.user_id, []), layers.get(row.user_id, Layer.FULL))
            for row in rows
        ]

    def set_layer(self, actor: str, other: str, layer: Layer) -> Layer:
        """Put a contact on a layer; the other side is not told."""
        rules.check_not_self(actor, other)
        with self.store.write(actor, other) as tx:
            if not tx.set_layer(actor, other, layer):
                raise NotInYourContacts()
        return layer
