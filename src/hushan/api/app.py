"""The HTTP API: each handler authenticates, parses, calls one service function, shapes the reply.

Handlers are `async` and run every engine call on the engine pool (`await run(engine.x, ...)`,
hushan.api.offload): the event loop itself never waits on the database (docs/architecture.md).
Replies are built as `JsonReply`s; the `response_model`s exist for the OpenAPI document.
"""

import asyncio
import contextlib
import hmac
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic_core import to_json

from hushan import __version__, logs
from hushan.api import errors, events, observe
from hushan.api import schemas as s
from hushan.api.body_limit import BodyLimit
from hushan.api.offload import EnginePool, PoolLimits
from hushan.api.replies import JsonReply
from hushan.api.watch import ChangeWatcher
from hushan.clock import OffsetClock
from hushan.config import Settings
from hushan.domain.errors import (
    ActingAsOtherUser,
    AdminRequired,
    FeatureDisabled,
    LogEmpty,
    Unauthenticated,
)
from hushan.service import Hushan

UserId = Annotated[s.UserId, Path()]
Cursor = Annotated[s.Cursor, Query()]
EXPORT_CHUNK = 1000  # log export records per trip to the engine pool
ERASURE_WAIT_SECONDS = 1.0  # an erasure done by then is answered 200, else 202
log = logging.getLogger("hushan.api")


def _log_failed_erasure(job: asyncio.Future[object]) -> None:
    """An erasure job that failed stays pending; the sweep finishes it when its claim lapses."""
    if not job.cancelled() and job.exception() is not None:
        log.error("an erasure job failed; the sweep will finish it", exc_info=job.exception())


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


def from_environment() -> FastAPI:
    """The app of one of several API processes (`serve --workers N`): settings from HUSHAN_*.
    It shuts down (as on SIGTERM) if `serve` dies without stopping it."""
    import os
    import signal

    from hushan.bootstrap import admin_key, build
    from hushan.orphan import when_orphaned

    # The parent is named by serve: one that died while this process started is noticed too.
    serve = int(os.environ.get("HUSHAN_SERVE_PID", os.getppid()))
    when_orphaned(serve, lambda: os.kill(os.getpid(), signal.SIGTERM))
    settings = Settings()
    logs.configure(settings.log_format)
    return create_app(build(settings), admin_key(settings), settings=settings)


def create_app(
    engine: Hushan,
    admin_key: str,
    test_clock: OffsetClock | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """Build the app. Engine calls run on the engine pool (hushan.api.offload), never on the
    event loop; background work (sweeps, checkpoints) runs elsewhere: `hushan worker`.
    `settings` (default: from the environment) give the pool, the body limit, the rate limits
    and observability."""

    watcher = ChangeWatcher(engine.store)
    settings = settings or Settings()
    pool = EnginePool(PoolLimits(settings.engine_threads, settings.max_pending_calls))
    run = pool.run

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            watcher.close()
            pool.close()
            engine.store.close()

    app = FastAPI(
        title="hushan",
        version=__version__,
        summary="Friend relationships: one-way, mutual and block-then-delete, with real erasure.",
        lifespan=lifespan,
        # A redirect to the path without its slash would be one more round trip that ends in
        # the same answer; an unknown path is a plain JSON 404 instead.
        redirect_slashes=False,
    )
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    # Dependencies are `async` so FastAPI runs them on the loop, not via its thread pool.
    async def caller(request: Request) -> str:
        token = _bearer(request)
        return await run(engine.authenticate, token)

    async def me(user_id: UserId, request: Request) -> str:
        """The path's user, who must be the token's user: nobody acts as someone else."""
        if await caller(request) != user_id:
            raise ActingAsOtherUser()
        return user_id

    async def admin(request: Request) -> None:
        if not hmac.compare_digest(_bearer(request).encode(), admin_key.encode()):
            raise AdminRequired()

    Me = Annotated[str, Depends(me)]
    Admin = Depends(admin)

    def reply(data: Any, status: int = 200) -> JsonReply:
        return JsonReply(data, status_code=status)

    # ---- users ------------------------------------------------------------------------------
    @app.post("/v1/users", status_code=201, response_model=s.CreatedUserReply, dependencies=[Admin])
    async def create_user(body: s.CreateUser) -> JsonReply:
        user, token = await run(
            engine.create_user, body.id, body.display_name, body.verification_required
        )
        return reply(
            {
                "user": s.user_json(user),
                "verification_required": user.verification_required,
                "token": token,
            },
            201,
        )

    @app.post(
        "/v1/users/{user_id}/tokens",
        status_code=201,
        response_model=s.TokenReply,
        dependencies=[Admin],
    )
    async def issue_token(user_id: UserId) -> JsonReply:
        return reply({"token": await run(engine.issue_token, user_id)}, 201)

    @app.get("/v1/users/{user_id}", response_model=s.UserReply)
    async def get_user(user_id: UserId, request: Request) -> JsonReply:
        await caller(request)
        return reply(s.user_json(await run(engine.get_user, user_id)))

    @app.get("/v1/users/{user_id}/export")
    async def export_account(user_id: Me) -> JsonReply:
        return reply(
            s.export_json(await run(engine.export_account, user_id), engine.limits.notice_minimum)
        )

    @app.delete("/v1/users/{user_id}")
    async def erase_account(user_id: Me) -> JsonReply:
        """The account goes at once; its data is erased as a job on the engine pool. Done
        within ERASURE_WAIT_SECONDS: 200 `erased`; else 202 `erasing`
        (GET /v1/admin/erasures/{id} tells when it is done)."""
        claim = await run(engine.begin_erasure, user_id)
        job = pool.submit(lambda: engine.complete_erasure(user_id, claim))
        done, _ = await asyncio.wait({job}, timeout=ERASURE_WAIT_SECONDS)
        if done:
            job.result()  # an error of its own is the reply's
            return reply({"status": "erased"})
        job.add_done_callback(_log_failed_erasure)
        return reply({"status": "erasing"}, 202)

    @app.get("/v1/admin/erasures/{user_id}", dependencies=[Admin])
    async def erasure_status(user_id: UserId) -> JsonReply:
        pending = await run(engine.erasure_pending, user_id)
        return reply({"user": user_id, "status": "erasing" if pending else "none"})

    @app.patch("/v1/users/{user_id}/settings")
    async def update_settings(user_id: Me, body: s.Settings) -> JsonReply:
        user = await run(
            engine.update_settings,
            user_id,
            body.verification_required,
            body.notice_grade,
            body.hide_shared_groups,
        )
        return reply(s.settings_json(user, engine.limits.notice_minimum))

    # ---- graded deletion notices ------------------------------------------------------------
    @app.get("/v1/users/{user_id}/relations/{other}")
    async def relation_view(user_id: Me, other: UserId) -> JsonReply:
        return reply(s.relation_view_json(await run(engine.relation_view, user_id, other)))

    # ---- posts and layers -------------------------------------------------------------------
    @app.post("/v1/users/{user_id}/posts", status_code=201)
    async def create_post(user_id: Me, body: s.CreatePost) -> JsonReply:
        post = await run(
            engine.create_post, user_id, body.body, body.audience, body.hidden_from, body.tag
        )
        return reply(s.post_json(post), 201)

    @app.get("/v1/users/{user_id}/feed")
    async def feed(
        user_id: Me,
        before: Annotated[s.RowId | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> JsonReply:
        return reply(
            {"posts": [s.post_json(p) for p in await run(engine.feed, user_id, before, limit)]}
        )

    @app.get("/v1/users/{user_id}/posts/{author}")
    async def posts_by(
        user_id: Me,
        author: UserId,
        before: Annotated[s.RowId | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> JsonReply:
        view = await run(engine.posts_by, user_id, author, before, limit)
        posts = [s.post_json(p) for p in view.posts]
        return reply({"posts": posts, "removed_you_at": s.iso(view.removed_you_at)})

    tags_path = "/v1/users/{user_id}/contacts/{other}/tags"

    @app.get(tags_path)
    async def contact_tags(user_id: Me, other: UserId) -> JsonReply:
        return reply({"tags": await run(engine.contact_tags, user_id, other)})

    @app.put(tags_path + "/{tag}")
    async def tag_contact(user_id: Me, other: UserId, tag: str) -> JsonReply:
        return reply({"tags": await run(engine.tag_contact, user_id, other, tag)})

    @app.delete(tags_path + "/{tag}")
    async def untag_contact(user_id: Me, other: UserId, tag: str) -> JsonReply:
        return reply({"tags": await run(engine.tag_contact, user_id, other, tag, on=False)})

    @app.put("/v1/users/{user_id}/contacts/{other}/layer")
    async def set_layer(user_id: Me, other: UserId, body: s.SetLayer) -> JsonReply:
        return reply({"layer": (await run(engine.set_layer, user_id, other, body.layer)).value})

    # ---- devices, the sync feed and the data residue ----------------------------------------
    devices_path = "/v1/users/{user_id}/devices"
    # Ids are 16 hex digits; other id-like strings are looked up (and not found), the rest
    # refused before a query (PostgreSQL cannot even compare a NUL).
    DeviceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]

    @app.post(devices_path, status_code=201)
    async def register_device(user_id: Me, body: s.RegisterDevice) -> JsonReply:
        return reply(s.device_json(await run(engine.register_device, user_id, body.name)), 201)

    @app.get(devices_path)
    async def list_devices(user_id: Me) -> JsonReply:
        return reply({"devices": [s.device_json(d) for d in await run(engine.devices, user_id)]})

    @app.delete(devices_path + "/{device}", response_model=s.StatusReply)
    async def remove_device(user_id: Me, device: DeviceId) -> JsonReply:
        await run(engine.remove_device, user_id, device)
        return reply({"status": "removed"})

    @app.get(devices_path + "/{device}/changes")
    async def device_changes(
        user_id: Me,
        device: DeviceId,
        after: Cursor | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        wait: Annotated[float, Query(ge=0, le=60)] = 0,
    ) -> JsonReply:
        """With `wait`, a long-poll: held until a change arrives or `wait` seconds pass."""
        page = await run(engine.device_changes, user_id, device, after, limit)
        if wait and page.next_cursor == page.after:  # nothing yet: wait for it
            start = page.after
            deadline = asyncio.get_running_loop().time() + wait
            async with watcher.waiting(user_id) as woken:
                page = await run(
                    engine.device_changes, user_id, device, start, limit
                )  # registered: recheck
                while page.next_cursor == start:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), remaining)
                    woken.clear()
                    page = await run(engine.device_changes, user_id, device, start, limit)
        return reply(s.changes_json(page))

    @app.get(devices_path + "/{device}/events")
    async def device_events(
        user_id: Me,
        device: DeviceId,
        after: Cursor | None = None,
        # Only ever the `id` of an event this endpoint sent, so anything else is refused (422),
        # not ignored: a client that sends a cursor means to resume from it.
        last_event_id: Annotated[s.Cursor | None, Header()] = None,
    ) -> StreamingResponse:
        """The feed as Server-Sent Events (hushan.api.events); `Last-Event-ID` resumes."""
        start = after if after is not None else last_event_id
        first = await run(
            engine.device_changes, user_id, device, start, events.PAGE
        )  # errors: JSON
        return StreamingResponse(
            events.change_events(
                lambda cursor: run(engine.device_changes, user_id, device, cursor, events.PAGE),
                watcher,
                user_id,
                first,
            ),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    @app.post(devices_path + "/{device}/ack")
    async def acknowledge(user_id: Me, device: DeviceId, body: s.Acknowledge) -> JsonReply:
        return reply(s.device_json(await run(engine.acknowledge, user_id, device, body.cursor)))

    @app.get("/v1/users/{user_id}/data-residue")
    async def data_residue(user_id: Me) -> JsonReply:
        return reply(
            {"histories": [s.residue_json(r) for r in await run(engine.data_residue, user_id)]}
        )

    # ---- groups -----------------------------------------------------------------------------
    groups_path = "/v1/users/{user_id}/groups"
    GroupId = Annotated[s.RowId, Path()]

    @app.post(groups_path, status_code=201)
    async def create_group(user_id: Me, body: s.CreateGroup) -> JsonReply:
        return reply(s.group_json(await run(engine.create_group, user_id, body.name)), 201)

    @app.get(groups_path)
    async def list_groups(user_id: Me) -> JsonReply:
        return reply({"groups": [s.group_json(g) for g in await run(engine.list_groups, user_id)]})

    @app.get(groups_path + "/{group_id}/members")
    async def group_members(user_id: Me, group_id: GroupId) -> JsonReply:
        members = await run(engine.group_members, user_id, group_id)
        return reply(
            {"members": [{"id": m.user_id, "joined_at": s.iso(m.joined_at)} for m in members]}
        )

    @app.post(groups_path + "/{group_id}/invitations", response_model=s.StatusReply)
    async def invite_to_group(user_id: Me, group_id: GroupId, body: s.InviteToGroup) -> JsonReply:
        return reply(
            {"status": (await run(engine.invite_to_group, user_id, group_id, body.user)).value}
        )

    @app.delete(groups_path + "/{group_id}/members/{member}", response_model=s.StatusReply)
    async def remove_group_member(user_id: Me, group_id: GroupId, member: UserId) -> JsonReply:
        if member == user_id:
            return reply({"status": (await run(engine.leave_group, user_id, group_id)).value})
        return reply(
            {"status": (await run(engine.remove_group_member, user_id, group_id, member)).value}
        )

    invitations_path = "/v1/users/{user_id}/group-invitations"

    @app.get(invitations_path)
    async def group_invitations(user_id: Me) -> JsonReply:
        found = await run(engine.group_invitations, user_id)
        return reply({"invitations": [s.group_invitation_json(i) for i in found]})

    @app.post(invitations_path + "/{group_id}/join")
    async def join_group(user_id: Me, group_id: GroupId) -> JsonReply:
        return reply(s.group_json(await run(engine.join_group, user_id, group_id)))

    @app.post(invitations_path + "/{group_id}/decline", response_model=s.StatusReply)
    async def decline_group_invitation(user_id: Me, group_id: GroupId) -> JsonReply:
        await run(engine.decline_group_invitation, user_id, group_id)
        return reply({"status": "declined"})

    @app.get("/v1/users/{user_id}/shared-groups/{other}")
    async def shared_groups(user_id: Me, other: UserId) -> JsonReply:
        view = await run(engine.shared_groups, user_id, other)
        return reply(
            {
                "other": view.other,
                "groups": [s.group_json(g) for g in view.groups],
                "removed_you_at": s.iso(view.removed_you_at),
            }
        )

    # ---- consensual mutual delete ----------------------------------------------------------
    proposals_path = "/v1/users/{user_id}/mutual-delete-proposals"

    @app.post(proposals_path, status_code=201)
    async def propose_mutual_delete(user_id: Me, body: s.ProposeMutualDelete) -> JsonReply:
        proposal = await run(
            engine.propose_mutual_delete, user_id, body.to, body.message, body.remove_anyway
        )
        return reply(s.proposal_json(proposal), 201)

    @app.get(proposals_path)
    async def list_proposals(
        user_id: Me, direction: Literal["incoming", "outgoing"] = "incoming"
    ) -> JsonReply:
        found = await run(engine.list_proposals, user_id, incoming=direction == "incoming")
        return reply({"proposals": [s.proposal_json(p) for p in found]})

    @app.post(proposals_path + "/{proposer}/accept", response_model=s.StatusReply)
    async def accept_mutual_delete(user_id: Me, proposer: UserId) -> JsonReply:
        return reply({"status": (await run(engine.accept_mutual_delete, user_id, proposer)).value})

    @app.post(proposals_path + "/{proposer}/decline")
    async def decline_mutual_delete(user_id: Me, proposer: UserId) -> JsonReply:
        removed = await run(engine.decline_mutual_delete, user_id, proposer)
        return reply({"status": "declined", "removed_anyway": removed})

    @app.delete(proposals_path + "/{other}", response_model=s.StatusReply)
    async def withdraw_mutual_delete(user_id: Me, other: UserId) -> JsonReply:
        return reply({"status": (await run(engine.withdraw_mutual_delete, user_id, other)).value})

    @app.get("/v1/users/{user_id}/notices")
    async def list_notices(
        user_id: Me,
        after: Cursor = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JsonReply:
        return reply(
            {
                "notices": [
                    s.notice_json(n) for n in await run(engine.notices, user_id, after, limit)
                ]
            }
        )

    @app.post("/v1/users/{user_id}/notices/read")
    async def mark_notices_read(user_id: Me, body: s.MarkNoticesRead) -> JsonReply:
        return reply({"marked": await run(engine.mark_notices_read, user_id, body.up_to)})

    # ---- friend requests --------------------------------------------------------------------
    @app.post("/v1/users/{user_id}/requests", response_model=s.StatusReply)
    async def send_request(user_id: Me, body: s.SendRequest) -> JsonReply:
        return reply(
            {"status": (await run(engine.send_request, user_id, body.to, body.message)).value}
        )

    @app.get("/v1/users/{user_id}/requests")
    async def list_requests(
        user_id: Me, direction: Literal["incoming", "outgoing"] = "incoming"
    ) -> JsonReply:
        found = await run(engine.list_requests, user_id, incoming=direction == "incoming")
        return reply({"requests": [s.request_json(r) for r in found]})

    @app.post("/v1/users/{user_id}/requests/{requester}/accept", response_model=s.StatusReply)
    async def accept_request(user_id: Me, requester: UserId) -> JsonReply:
        return reply({"status": (await run(engine.accept_request, user_id, requester)).value})

    @app.post("/v1/users/{user_id}/requests/{requester}/reject", response_model=s.StatusReply)
    async def reject_request(user_id: Me, requester: UserId) -> JsonReply:
        return reply({"status": (await run(engine.reject_request, user_id, requester)).value})

    @app.delete("/v1/users/{user_id}/requests/{other}", response_model=s.StatusReply)
    async def withdraw_request(user_id: Me, other: UserId) -> JsonReply:
        return reply({"status": (await run(engine.withdraw_request, user_id, other)).value})

    # ---- contacts and blocks ----------------------------------------------------------------
    @app.get("/v1/users/{user_id}/contacts")
    async def list_contacts(user_id: Me) -> JsonReply:
        return reply(
            {"contacts": [s.contact_json(c) for c in await run(engine.list_contacts, user_id)]}
        )

    @app.delete("/v1/users/{user_id}/contacts/{other}", response_model=s.StatusReply)
    async def delete_contact(user_id: Me, other: UserId) -> JsonReply:
        return reply({"status": (await run(engine.delete_contact, user_id, other)).value})

    @app.post("/v1/users/{user_id}/contacts/{other}/block-and-delete")
    async def block_and_delete(user_id: Me, other: UserId) -> JsonReply:
        outcome = await run(engine.block_and_delete, user_id, other)
        return reply(
            {
                "status": "blocked_and_deleted",
                "newly_blocked": outcome.newly_blocked,
                "removed_from_contacts": outcome.deleted,
                "history_purged": outcome.history_purged,
            }
        )

    @app.get("/v1/users/{user_id}/blocks")
    async def list_blocks(user_id: Me) -> JsonReply:
        return reply({"blocks": await run(engine.list_blocks, user_id)})

    @app.put("/v1/users/{user_id}/blocks/{other}", response_model=s.StatusReply)
    async def block(user_id: Me, other: UserId) -> JsonReply:
        return reply({"status": (await run(engine.block, user_id, other)).value})

    @app.delete("/v1/users/{user_id}/blocks/{other}", response_model=s.StatusReply)
    async def unblock(user_id: Me, other: UserId) -> JsonReply:
        return reply({"status": (await run(engine.unblock, user_id, other)).value})

    # ---- messages ---------------------------------------------------------------------------
    @app.post("/v1/users/{user_id}/messages", status_code=201)
    async def send_message(user_id: Me, body: s.SendMessage) -> JsonReply:
        return reply(
            s.message_json(await run(engine.send_message, user_id, body.to, body.body)), 201
        )

    @app.get("/v1/users/{user_id}/conversations")
    async def chat_list(user_id: Me) -> JsonReply:
        return reply(
            {"conversations": [s.chat_json(c) for c in await run(engine.chat_list, user_id)]}
        )

    @app.get("/v1/users/{user_id}/conversations/{other}/messages")
    async def history(
        user_id: Me,
        other: UserId,
        after: Cursor = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> JsonReply:
        return reply(s.history_json(await run(engine.history, user_id, other, after, limit)))

    # ---- admin (server-to-server) -------------------------------------------------------------
    @app.post("/v1/admin/relations/check", dependencies=[Admin])
    async def relation_check(body: s.RelationCheck) -> JsonReply:
        def checked() -> JsonReply:  # a thousand results are shaped off the loop too
            found = engine.relation_check([(p.a, p.b) for p in body.pairs])
            return reply({"results": [s.status_json(r) for r in found]})

        return await run(checked)

    @app.get("/v1/admin/pairs/{a}/{b}", dependencies=[Admin])
    async def inspect_pair(a: UserId, b: UserId) -> JsonReply:
        return reply(s.inspection_json(await run(engine.inspect_pair, a, b)))

    @app.post("/v1/admin/sweep", dependencies=[Admin])
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
                "erasures_finished": report.erasures_finished,
            }
        )

    @app.get("/v1/admin/audit", dependencies=[Admin])
    async def audit(
        after: Cursor = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JsonReply:
        entries = await run(engine.audit_log, after, limit)
        return reply({"entries": [s.audit_json(x) for x in entries]})

    @app.post("/v1/admin/clock/advance", dependencies=[Admin])
    async def advance_clock(body: s.AdvanceClock) -> JsonReply:
        if test_clock is None:
            raise FeatureDisabled()
        now = test_clock.advance(timedelta(seconds=body.seconds))
        return reply({"now": s.iso(now)})

    # ---- transparency log and certificates ----------------------------------------------------
    @app.post("/v1/users/{user_id}/certificates")
    async def certificate(user_id: Me, body: s.CertificateRequest) -> Response:
        issued = await run(
            engine.log.certificate,
            user_id,
            body.other,
            body.legal_basis,
            body.disclose,
            body.earlier_size,
        )
        return Response(issued, media_type="application/json")

    @app.get("/v1/log/key", response_class=PlainTextResponse)
    async def log_key() -> PlainTextResponse:
        return PlainTextResponse(str(engine.log.signer.verifier) + "\n")

    @app.get("/v1/log/checkpoint", response_class=PlainTextResponse)
    async def log_checkpoint() -> PlainTextResponse:
        latest = await run(engine.log.latest_checkpoint)
        if latest is None:
            raise LogEmpty()
        return PlainTextResponse(latest.note)

    @app.post("/v1/admin/log/checkpoint", dependencies=[Admin], response_class=PlainTextResponse)
    async def publish_checkpoint() -> PlainTextResponse:
        published = await run(engine.log.publish)
        if published is None:
            raise LogEmpty()
        return PlainTextResponse(published.note)

    @app.get("/v1/admin/log/export", dependencies=[Admin])
    async def export_log() -> StreamingResponse:
        records = engine.log.export()  # reads a page at a time, on whichever thread asks

        def more_lines() -> bytes:
            return b"".join(to_json(r) + b"\n" for r in itertools.islice(records, EXPORT_CHUNK))

        async def lines() -> AsyncIterator[bytes]:
            while chunk := await run(more_lines):
                yield chunk

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/healthz")
    async def healthz() -> JsonReply:
        return reply({"status": "ok"})

    # Last, so that its routes (/metrics, /readyz, /v1/admin/abuse) are matched after the API's.
    observe.install(app, engine, admin_key, settings)
    return app
