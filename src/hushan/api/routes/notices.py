"""Graded deletion notices: the relation view and the inbox."""

from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, Page, pages
from hushan.api.replies import JsonReply, MarkedReply, NoticesReply, RelationViewReply

NoticePage = Annotated[Page[int], Depends(pages("notices", ROW_ID))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["notices"])

    @api.get(
        "/v1/users/{user_id}/relations/{other}",
        response_model=RelationViewReply,
        operation_id="relations_get",
        responses=errors_for(404),
    )
    async def relation_view(user_id: Me, other: s.UserIdPath) -> JsonReply:
        return reply(shapes.relation_view_json(await run(engine.relation_view, user_id, other)))

    @api.get(
        "/v1/users/{user_id}/notices", response_model=NoticesReply, operation_id="notices_list"
    )
    async def list_notices(user_id: Me, page: NoticePage) -> JsonReply:
        found = await run(engine.notices, user_id, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda n: n.id)
        return reply({"notices": [shapes.notice_json(n) for n in shown], "next": after})

    @api.post(
        "/v1/users/{user_id}/notices/read",
        response_model=MarkedReply,
        operation_id="notices_mark_read",
    )
    async def mark_notices_read(user_id: Me, body: s.MarkNoticesRead) -> JsonReply:
        return reply({"marked": await run(engine.mark_notices_read, user_id, body.up_to)})

    return api
