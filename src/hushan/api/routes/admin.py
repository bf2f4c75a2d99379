"""Server to server, with the admin key: relation checks, a pair's record, the sweep, the audit
log, erasures and the test clock. (The log: hushan.api.routes.log; abuse: hushan.api.limits.)"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, TEXT, Page, pages
from hushan.api.replies import (
    AuditReply,
    ClockReply,
    ErasureReply,
    JsonReply,
    PairInspectionReply,
    RelationCheckReply,
    SweepReply,
    UsersReply,
)
from hushan.domain.errors import FeatureDisabled

AuditPage = Annotated[Page[int], Depends(pages("audit", ROW_ID))]
UserPage = Annotated[Page[str], Depends(pages("users", TEXT))]


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    api = APIRouter(tags=["admin"], dependencies=[Depends(ctx.guards.admin)])

    @api.post(
        "/v1/admin/relations/check",
        response_model=RelationCheckReply,
        operation_id="admin_relations_check",
    )
    async def relation_check(body: s.RelationCheck) -> JsonReply:
        def checked() -> JsonReply:  # a thousand results are shaped off the loop too
            found = engine.relation_check([(p.a, p.b) for p in body.pairs])
            return reply({"results": [shapes.status_json(r) for r in found]})

        return await run(checked)

    @api.get(
        "/v1/admin/pairs/{a}/{b}",
        response_model=PairInspectionReply,
        operation_id="admin_pairs_inspect",
        responses=errors_for(404),
    )
    async def inspect_pair(a: s.UserIdPath, b: s.UserIdPath) -> JsonReply:
        return reply(shapes.inspection_json(await run(engine.inspect_pair, a, b)))

    @api.post("/v1/admin/sweep", response_model=SweepReply, operation_id="admin_sweep")
    async def sweep() -> JsonReply:
        report = await run(engine.sweep)
        return reply(
            {
                "requests_expired": report.requests_expired,
                "proposals_expired": report.proposals_expired,
                "keys_destroyed": report.keys_destroyed,
                "rows_deleted": report.rows_deleted,
                "conversations_finished": report.conversations_finished,
                "changes_pruned": report.changes_pruned,
                "idempotency_keys_pruned": report.idempotency_keys_pruned,
                "erasures_finished": report.erasures_finished,
                "approvals_due": report.approvals_due,
                "handovers_ended": report.handovers_ended,
                "purges_deferred": report.purges_deferred,
                "holds_expired": report.holds_expired,
            }
        )

    @api.get("/v1/admin/audit", response_model=AuditReply, operation_id="admin_audit")
    async def audit(page: AuditPage) -> JsonReply:
        found = await run(engine.audit_log, page.after or 0, page.fetch)
        shown, after = page.cut(found, lambda x: x.seq)
        return reply({"entries": [shapes.audit_json(x) for x in shown], "next": after})

    @api.get("/v1/admin/users", response_model=UsersReply, operation_id="admin_users_list")
    async def list_users(page: UserPage) -> JsonReply:
        found = await run(engine.list_users, page.after or "", page.fetch)
        shown, after = page.cut(found, lambda u: u.id)
        return reply({"users": [shapes.admin_user_json(u) for u in shown], "next": after})

    @api.post(
        "/v1/admin/clock/advance",
        response_model=ClockReply,
        operation_id="admin_clock_advance",
        responses=errors_for(404),
    )
    async def advance_clock(body: s.AdvanceClock) -> JsonReply:
        if ctx.test_clock is None:
            raise FeatureDisabled()
        now = ctx.test_clock.advance(timedelta(seconds=body.seconds))
        return reply({"now": shapes.iso(now)})

    @api.get(
        "/v1/admin/erasures/{user_id}",
        response_model=ErasureReply,
        operation_id="admin_erasure_status",
    )
    async def erasure_status(user_id: s.UserIdPath) -> JsonReply:
        pending = await run(engine.erasure_pending, user_id)
        return reply({"user": user_id, "status": "erasing" if pending else "none"})

    return api
