"""The console's progressive-cleanup page (docs/console.md): candidates by the API's filters,
the preview of their removal, the removal in batches of the deployment's largest, and the undo
of a recent batch. Every figure on it is the cleanup service's own answer, which never tells
the user who removed them (hushan.domain.cleanup).

The removal runs one batch per form POST: each answer is a page with the progress so far and a
form holding the contacts still to remove, which the page's script (static/cleanup.js) sends
on; without the script, its button does. Each form carries a new key, under which its batch is
removed once (`_removed_once`): a reload of a progress page, which sends its form again, shows
the same page again and removes nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from hushan.domain import posts
from hushan.domain.cleanup import CandidateFilter, ItemResult, ItemStatus
from hushan.domain.errors import CleanupBatchNotFound, HushanError, InvalidInput
from hushan.domain.rules import check_user_id
from hushan.service import Hushan
from hushan.service.idempotency import Claim, Replay
from hushan.store.base import StoredReply
from hushan.store.held import Hold, holding

if TYPE_CHECKING:
    from hushan.console.pages import Console, Form, Values

PATH = "/console/cleanup"
CANDIDATE_ROWS = 100  # candidates a page lists; "select all on this page" selects these
RECENT_BATCHES = 20  # batches the page lists for an undo
MAX_MONTHS = 120  # as the API's `no_messages_months`
MAX_KEY_CHARS = 64  # a batch form's key (new_batch_key makes 22)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[at : at + size] for at in range(0, len(items), size)]


def _ids(named: list[str]) -> list[str]:
    """The contacts named, in order, each once (a bad id is the API's `invalid_user_id`)."""
    return [check_user_id(one) for one in dict.fromkeys(named)]


async def _checked(request: Request) -> list[str]:
    """The ticked `contact` boxes: the form's fields as a dict keep only the last of them."""
    body = (await request.body()).decode("utf-8", errors="replace")  # read once, kept
    return _ids([value for key, value in parse_qsl(body) if key == "contact"])


def _count(fields: Form, name: str) -> int:
    """A count the previous batch's page carried on (only ever shown back to the user)."""
    value = fields.get(name, "")
    return int(value) if value.isdecimal() and len(value) < 9 else 0


def _wanted(months: str, never: bool, tag: str, chat_only: bool) -> CandidateFilter:
    """The filters as the form sends them (an empty field: any), checked as the API checks
    its query."""
    if months and not (months.isdecimal() and 1 <= int(months) <= MAX_MONTHS):
        raise InvalidInput(f"Months: a whole number from 1 to {MAX_MONTHS}.")
    if tag:
        posts.check_tag(tag)
    return CandidateFilter(int(months) if months else None, never, tag or None, chat_only)


def new_batch_key() -> str:
    """The key of the next batch's form: the batch is removed once per key."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Batch:
    """What the page shows of a batch removed."""

    removed: int
    undo_until: datetime


def _removed_once(engine: Hushan, user: str, key: str, batch: list[str]) -> Batch:
    """One batch under its form's key, on a pool thread: the key and the batch's answer are
    kept in the batch's own transaction (hushan.service.idempotency), so that the same form sent
    again (a reload of the progress page) gets the first answer back, with nothing removed
    twice and no empty batch recorded."""
    claim = Claim(f"console:{user}", key, hashlib.sha256("\n".join(batch).encode()).digest())
    hold = Hold()
    try:
        try:
            with holding(hold):
                applied = engine.cleanup_remove(user, batch)
            done = Batch(
                sum(1 for r in applied.results if r.status is ItemStatus.REMOVED),
                applied.undo_until,
            )
            answer = {"removed": done.removed, "undo_until": done.undo_until.isoformat()}
            kept = StoredReply(claim.fingerprint, 200, [], json.dumps(answer).encode())
        except BaseException:
            hold.finish(None)
            raise
        engine.keep_reply(hold, claim, kept)
    except Replay as replay:
        first = json.loads(replay.reply.body)
        return Batch(int(first["removed"]), datetime.fromisoformat(first["undo_until"]))
    return done


class CleanupPage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.engine, self.run = console.engine, console.run

    @property
    def batch_size(self) -> int:
        return self.engine.limits.cleanup_max_batch

    async def listing(
        self, user: str, wanted: CandidateFilter, after: str = "", select_all: bool = False
    ) -> Values:
        found = await self.run(
            self.engine.cleanup_candidates, user, wanted, after, CANDIDATE_ROWS + 1
        )
        shown = found[:CANDIDATE_ROWS]
        more = len(found) > CANDIDATE_ROWS
        query = {
            "months": wanted.no_messages_months,
            "never": "true" if wanted.never_messaged else None,
            "tag": wanted.tag,
            "chat_only": "true" if wanted.chat_only_candidates else None,
        }
        kept = {key: value for key, value in query.items() if value is not None}
        batches = await self.run(self.engine.cleanup_batches, user, None, RECENT_BATCHES)
        return {
            "candidates": shown,
            "next_url": f"{PATH}?{urlencode({**kept, 'after': shown[-1].id})}" if more else None,
            "select_url": f"{PATH}?{urlencode({**kept, 'after': after, 'select': 'true'})}",
            "wanted": wanted,
            "select_all": select_all,
            "batches": batches,
            "now": self.engine.clock.now(),
        }

    async def default_listing(self, user: str) -> Values:
        return await self.listing(user, CandidateFilter())

    async def preview(self, request: Request, user: str, fields: Form) -> Response:
        chosen = await _checked(request)
        items: list[ItemResult] = []
        for chunk in _chunks(chosen, self.batch_size):
            items += await self.run(self.engine.cleanup_preview, user, chunk)
        return self.console.render(
            request,
            "cleanup_preview.html",
            user=user,
            page="cleanup",
            items=items,
            contacts=" ".join(i.other for i in items if i.status is ItemStatus.READY),
            key=new_batch_key(),
        )

    async def apply(self, request: Request, user: str, fields: Form) -> Response:
        """One batch of the contacts still to remove; the page says how far it has come."""
        left = _ids(fields.get("left", "").split())
        done, removed = _count(fields, "done"), _count(fields, "removed")
        total = max(_count(fields, "total"), done + len(left))
        batch = left[: self.batch_size]
        applied = None
        if batch:
            key = fields.get("key", "")
            if not (0 < len(key) <= MAX_KEY_CHARS):
                raise InvalidInput("The form lacks its batch key: open the cleanup page again.")
            applied = await self.run(_removed_once, self.engine, user, key, batch)
            removed += applied.removed
        done += len(batch)
        return self.console.render(
            request,
            "cleanup_apply.html",
            user=user,
            page="cleanup",
            total=total,
            done=done,
            removed=removed,
            left=" ".join(left[len(batch) :]),
            applied=applied,
            key=new_batch_key(),
        )

    async def undo(self, request: Request, user: str, fields: Form) -> Response:
        batch = fields.get("batch", "")
        if not batch.isdecimal():
            raise CleanupBatchNotFound()
        undone = await self.run(self.engine.cleanup_undo, user, int(batch))
        return self.console.render(
            request, "cleanup_undo.html", user=user, page="cleanup", undone=undone
        )

    # ---- the routes -------------------------------------------------------------------------
    def router(self) -> APIRouter:
        api = APIRouter(include_in_schema=False)

        @api.get(PATH)
        async def shown(
            request: Request,
            # Text, as the form sends an empty field for "any": the numbers are checked below.
            months: Annotated[str, Query(max_length=8)] = "",
            never: Annotated[bool, Query()] = False,
            tag: Annotated[str, Query(max_length=64)] = "",
            chat_only: Annotated[bool, Query()] = False,
            after: Annotated[str, Query(max_length=64)] = "",
            select: Annotated[bool, Query()] = False,
        ) -> Response:
            try:  # checked here: a page shown with its error lists the unfiltered candidates
                wanted = _wanted(months.strip(), never, tag.strip(), chat_only)
            except HushanError as bad:
                return await self.console.page(request, "cleanup", self.console.failure(bad))

            async def values(user: str) -> Values:
                return await self.listing(user, wanted, after, select)

            return await self.console.page(request, "cleanup", values_of=values)

        for path, do in {
            "preview": self.preview,
            "apply": self.apply,
            "undo": self.undo,
        }.items():
            api.add_api_route(f"{PATH}/{path}", self._acted(do), methods=["POST"])
        return api

    def _acted(
        self, do: Callable[[Request, str, Form], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def acted(request: Request) -> Response:
            async def done(user: str, fields: Form) -> Response:
                return await do(request, user, fields)

            return await self.console.act(request, "cleanup", done)

        return acted
