"""Legal holds, for the admin key or a service credential with `admin:read` (the list and one
hold) / `admin:write` (place, release): hushan.domain.holds."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import TIMED, Page, pages
from hushan.api.replies import JsonReply, LegalHoldReply, LegalHoldsReply
from hushan.store.base import FROM_START

PREFIX = "/v1/admin/holds"
HoldPage = Annotated[Page[tuple[datetime, str]], Depends(pages("holds", TIMED))]
LiveOnly = Annotated[bool, Query(description="Only the holds still in force.")]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    api = APIRouter(tags=["admin"], dependencies=[Depends(ctx.guards.admin)])

    @api.post(
        PREFIX,
        status_code=201,
        response_model=LegalHoldReply,
        operation_id="admin_holds_place",
        responses=errors_for(404, 409),
    )
    async def place(body: s.PlaceHold) -> JsonReply:
        """A hold on `user`, or on the pair `user`, `other`: the histories it covers are kept,
        encrypted, past any purge until it is released or expires. A pair whose history was
        already purged is refused (`history_already_purged`)."""
        hold = await run(
            engine.place_hold, body.user, body.other, body.reason, body.case_ref, body.expires_at
        )
        return reply(shapes.hold_json(hold), 201)

    @api.get(PREFIX, response_model=LegalHoldsReply, operation_id="admin_holds_list")
    async def listed(page: HoldPage, live: LiveOnly = False) -> JsonReply:
        """Holds in the order they were placed, ended ones too unless `live`."""
        found = await run(engine.list_holds, page.after or FROM_START, page.fetch, live)
        shown, after = page.cut(found, lambda h: (h.placed_at, h.id))
        return reply({"holds": [shapes.hold_json(h) for h in shown], "next": after})

    @api.get(
        f"{PREFIX}/{{hold_id}}",
        response_model=LegalHoldReply,
        operation_id="admin_holds_get",
        responses=errors_for(404),
    )
    async def get(hold_id: s.HoldId) -> JsonReply:
        return reply(shapes.hold_json(await run(engine.get_hold, hold_id)))

    @api.delete(
        f"{PREFIX}/{{hold_id}}",
        response_model=LegalHoldReply,
        operation_id="admin_holds_release",
        responses=errors_for(404, 409),
    )
    async def release(hold_id: s.HoldId) -> JsonReply:
        """End the hold: what it alone kept is purged by the next sweep, where due."""
        return reply(shapes.hold_json(await run(engine.release_hold, hold_id)))

    return api
