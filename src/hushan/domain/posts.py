"""Posts (moments) and the social layers that decide who sees them.

A post is seen by its author and by each contact of theirs who:
- has the author in their own list (a feed is made of one's contacts);
- is still in the author's list, on the `full` layer, and not blocked by the author;
- and is in the post's audience: `all`; `except`, with the viewer not hidden from it; or `tag`,
  with the viewer among the contacts the author gave that tag.

So a removed or blocked user stops seeing the remover's posts at once: the "permission change"
that today is the only sign of a one-way delete. Under the `silent` grade that sign is all the
removed side gets; `on_contact` and `notify` also tell them plainly when they look.

The `chat_only` layer is the alternative to deleting: the contact can still message, but no
longer sees posts. Changing a layer is never told to the other side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hushan.domain.errors import InvalidTag
from hushan.domain.rules import is_label


class Audience(StrEnum):
    ALL = "all"
    EXCEPT = "except"  # all but the users the post is hidden from
    TAG = "tag"  # only the contacts the author gave the post's tag


class Layer(StrEnum):
    FULL = "full"
    CHAT_ONLY = "chat_only"


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    author: str
    body: str
    audience: Audience
    created_at: datetime
    tag: str | None = None


def check_tag(tag: str | None) -> str:
    if tag is None or not is_label(tag, 32):
        raise InvalidTag()
    return tag
