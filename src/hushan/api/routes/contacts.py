"""Contacts and blocks: the list, the three ways to part, blocking and unblocking."""

from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import TEXT, Page, pages
from hushan.api.replies import (
    BlockAndDeleteReply,
    BlocksReply,
    ContactsReply,
    JsonReply,
    StatusReply,
)

CONTACTS = "/v1/users/{user_id}/contacts"
BLOCKS = "/v1/users/{user_id}/blocks"
ContactPage = Annotated[Page[str], Depends(pages("contacts", TEXT))]
BlockPage = Annotated[Page[str], Depends(pages("blocks", TEXT))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["contacts"])

    @api.get(CONTACTS, response_model=ContactsReply, operation_id="contacts_list")
    async def list_contacts(user_id: Me, page: ContactPage) -> JsonReply:
        found = await run(engine.list_contacts, user_id, page.after or "", page.fetch)
        shown, after = page.cut(found, lambda c: c.user_id)
        return reply({"contacts": [shapes.contact_json(c) for c in shown], "next": after})

    @api.delete(
        CONTACTS + "/{other}",
        response_model=StatusReply,
        operation_id="contacts_delete",
        responses=errors_for(404),
    )
    async def delete_contact(user_id: Me, other: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.delete_contact, user_id, other)).value})

    @api.post(
        CONTACTS + "/{other}/block-and-delete",
        response_model=BlockAndDeleteReply,
        operation_id="contacts_block_and_delete",
        responses=errors_for(404),
    )
    async def block_and_delete(user_id: Me, other: s.UserIdPath) -> JsonReply:
        outcome = await run(engine.block_and_delete, user_id, other)
        done = {
            "status": "blocked_and_deleted",
            "newly_blocked": outcome.newly_blocked,
            "removed_from_contacts": outcome.deleted,
            "history_purged": outcome.history_purged,
        }
        return reply(done)

    @api.get(BLOCKS, response_model=BlocksReply, operation_id="blocks_list")
    async def list_blocks(user_id: Me, page: BlockPage) -> JsonReply:
        found = await run(engine.list_blocks, user_id, page.after or "", page.fetch)
        shown, after = page.cut(found, lambda blocked: blocked)
        return reply({"blocks": list(shown), "next": after})

    @api.put(
        BLOCKS + "/{other}",
        response_model=StatusReply,
        operation_id="blocks_add",
        responses=errors_for(404),
    )
    async def block(user_id: Me, other: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.block, user_id, other)).value})

    @api.delete(
        BLOCKS + "/{other}",
        response_model=StatusReply,
        operation_id="blocks_remove",
        responses=errors_for(404),
    )
    async def unblock(user_id: Me, other: s.UserIdPath) -> JsonReply:
        return reply({"status": (await run(engine.unblock, user_id, other)).value})

    return api
