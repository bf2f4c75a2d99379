"""Progressive cleanup: candidates, the preview of a bulk removal, the removal, its undo."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, TEXT, Page, pages
from hushan.api.replies import (
    CandidatesReply,
    CleanupBatchesReply,
    CleanupBatchReply,
    CleanupPreviewReply,
    CleanupUndoReply,
    JsonReply,
)
from hushan.domain.cleanup import CandidateFilter
from hushan.service import AppliedBatch, UndoneBatch

CLEANUP = "/v1/users/{user_id}/cleanup"
CandidatePage = Annotated[Page[str], Depends(pages("cleanup_candidates", TEXT))]
# Newest first: a cursor holds the last batch sent, and the next page is of older ones.
BatchPage = Annotated[Page[int], Depends(pages("cleanup_batches", ROW_ID))]
BatchId = Annotated[s.RowId, Path()]


def candidate_filter(
    no_messages_months: Annotated[
        int | None,
        Query(ge=1, le=120, description="No message between you for this many 30-day months."),
    ] = None,
    never_messaged: Annotated[bool, Query(description="No message between you, ever.")] = False,
    tag: Annotated[s.Tag | None, Query(description="Contacts you gave this tag.")] = None,
    chat_only_candidates: Annotated[
        bool,
        Query(description="Contacts on the `full` layer with whom you have messages."),
    ] = False,
) -> CandidateFilter:
    return CandidateFilter(no_messages_months, never_messaged, tag, chat_only_candidates)


Filter = Annotated[CandidateFilter, Depends(candidate_filter)]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["cleanup"])

    @api.get(
        CLEANUP + "/candidates",
        response_model=CandidatesReply,
        operation_id="cleanup_candidates",
    )
    async def list_candidates(user_id: Me, wanted: Filter, page: CandidatePage) -> JsonReply:
        found = await run(engine.cleanup_candidates, user_id, wanted, page.after or "", page.fetch)
        shown, after = page.cut(found, lambda c: c.id)
        return reply({"candidates": [shapes.candidate_json(c) for c in shown], "next": after})

    @api.post(
        CLEANUP + "/preview",
        response_model=CleanupPreviewReply,
        operation_id="cleanup_preview",
    )
    async def preview_removal(user_id: Me, body: s.CleanupContacts) -> JsonReply:
        found = await run(engine.cleanup_preview, user_id, body.contacts)
        return reply({"contacts": shapes.cleanup_items_json(found)})

    @api.post(
        CLEANUP + "/batches",
        status_code=201,
        response_model=CleanupBatchReply,
        operation_id="cleanup_remove",
    )
    async def remove_contacts(user_id: Me, body: s.CleanupContacts) -> JsonReply:
        return await ctx.pool.reply(_batch_reply, engine.cleanup_remove, user_id, body.contacts)

    @api.get(
        CLEANUP + "/batches",
        response_model=CleanupBatchesReply,
        operation_id="cleanup_batches",
    )
    async def list_batches(user_id: Me, page: BatchPage) -> JsonReply:
        found = await run(engine.cleanup_batches, user_id, page.after, page.fetch)
        shown, after = page.cut(found, lambda b: b.id)
        return reply({"batches": [shapes.cleanup_summary_json(b) for b in shown], "next": after})

    @api.post(
        CLEANUP + "/batches/{batch_id}/undo",
        response_model=CleanupUndoReply,
        operation_id="cleanup_undo",
        responses=errors_for(404, 409),
    )
    async def undo_removal(user_id: Me, batch_id: BatchId) -> JsonReply:
        return await ctx.pool.reply(_undo_reply, engine.cleanup_undo, user_id, batch_id)

    return api


def _batch_reply(batch: AppliedBatch) -> JsonReply:
    return reply(shapes.cleanup_batch_json(batch), 201)


def _undo_reply(undone: UndoneBatch) -> JsonReply:
    return reply(shapes.cleanup_undo_json(undone))
