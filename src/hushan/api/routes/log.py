"""The transparency log: deletion certificates, the public key and checkpoints, and the log's
export for the admin."""

import itertools
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic_core import to_json

from hushan.api import schemas as s
from hushan.api.context import Context
from hushan.api.openapi import errors_for
from hushan.domain.errors import LogEmpty

EXPORT_CHUNK = 1000  # log export records per trip to the engine pool


def _content(media_type: str, schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


TEXT = {"type": "string"}
NOTE = _content("text/plain", TEXT, "A signed note (C2SP `signed-note`).")


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    Admin = Depends(ctx.guards.admin)
    api = APIRouter(tags=["log"])

    @api.post(
        "/v1/users/{user_id}/certificates",
        response_class=Response,
        operation_id="certificates_issue",
        responses={
            **_content(
                "application/json",
                {"type": "object"},
                "A signed deletion certificate (docs/transparency.md).",
            ),
            **errors_for(404),
        },
    )
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

    @api.get(
        "/v1/log/key",
        response_class=PlainTextResponse,
        operation_id="log_key",
        responses=_content("text/plain", TEXT, "The log's public key, `name+hash+base64`."),
    )
    async def log_key() -> PlainTextResponse:
        return PlainTextResponse(str(engine.log.signer.verifier) + "\n")

    @api.get(
        "/v1/log/checkpoint",
        response_class=PlainTextResponse,
        operation_id="log_checkpoint",
        responses={**NOTE, **errors_for(404)},
    )
    async def log_checkpoint() -> PlainTextResponse:
        latest = await run(engine.log.latest_checkpoint)
        if latest is None:
            raise LogEmpty()
        return PlainTextResponse(latest.note)

    @api.post(
        "/v1/admin/log/checkpoint",
        dependencies=[Admin],
        response_class=PlainTextResponse,
        operation_id="admin_log_checkpoint",
        responses={**NOTE, **errors_for(404)},
        tags=["admin"],
    )
    async def publish_checkpoint() -> PlainTextResponse:
        published = await run(engine.log.publish)
        if published is None:
            raise LogEmpty()
        return PlainTextResponse(published.note)

    @api.get(
        "/v1/admin/log/export",
        dependencies=[Admin],
        response_class=StreamingResponse,
        operation_id="admin_log_export",
        responses=_content(
            "application/x-ndjson", TEXT, "Every leaf, then every checkpoint: JSON lines."
        ),
        tags=["admin"],
    )
    async def export_log() -> StreamingResponse:
        records = engine.log.export()  # reads a page at a time, on whichever thread asks

        def more_lines() -> bytes:
            return b"".join(to_json(r) + b"\n" for r in itertools.islice(records, EXPORT_CHUNK))

        async def lines() -> AsyncIterator[bytes]:
            while chunk := await run(more_lines):
                yield chunk

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return api
