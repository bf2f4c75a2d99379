"""A request body over the deployment's limit is refused with `413 body_too_large` before any of
it is parsed, and no more of it is read than the limit (plus one chunk).

A declared `Content-Length` over the limit is answered at once, before routing and
authentication. A body without one (chunked) is counted as the app reads it: the chunk that
passes the limit raises a 413 that FastAPI lets through its body parsing to the error handlers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hushan.api.errors import http_only_reply


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        # The server has checked that a Content-Length is digits: int() cannot fail here.
        if declared is not None and int(declared) > self.limit:
            await http_only_reply("body_too_large")(scope, receive, send)
            return
        if not chunked:
            # The server reads no more than the Content-Length declared (or, with none, no
            # body at all): nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, counted, send)
