"""The one table from domain errors to HTTP statuses, and the JSON error shape.

Every error reply is `{"error": {"code": ..., "message": ...}}` with a stable code. Codes that
only the HTTP layer produces (malformed JSON, an unknown route) are listed in `HTTP_ONLY_CODES`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from hushan.api.replies import JsonReply
from hushan.domain import errors as e

log = logging.getLogger("hushan.api")

STATUS: dict[type[e.HushanError], int] = {
    e.NotFound: 404,
    e.InvalidInput: 422,
    e.Refused: 409,
    e.InvalidTransition: 500,
    e.Conflict: 409,
    e.CursorExpired: 410,
    e.Unauthenticated: 401,
    e.AuthError: 403,
    e.FeatureDisabled: 404,
    e.Unavailable: 503,
}

HTTP_ONLY_CODES: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "The request body is not valid JSON."),
    "invalid_request": (422, "The request does not match the API's schema."),
    "invalid_text": (422, "Text may not hold NUL characters or lone surrogates."),
    "body_too_large": (413, "The request body is over the deployment's limit."),
    "route_not_found": (404, "No such endpoint."),
    "method_not_allowed": (405, "That method is not allowed on this endpoint."),
    "internal_error": (500, "Internal error; nothing was changed."),
}


def status_for(error: e.HushanError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, code: str, message: str) -> JsonReply:
    return JsonReply({"error": {"code": code, "message": message}}, status_code=status)


# The schemas' own validators (hushan.api.schemas) name the code in the error's type.
SCHEMA_CODES = frozenset({e.InvalidUserId.code, "invalid_text"})


def http_only_reply(code: str, message: str | None = None) -> JsonReply:
    status, default = HTTP_ONLY_CODES[code]
    return error_response(status, code, message or default)


def routes(app: Starlette) -> Iterator[RouteContext]:
    """Every route of the app, those of included routers among them (which FastAPI keeps
    behind one entry per router in `app.router.routes`)."""
    return iter_route_contexts(app.router.routes)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on the request's path. Starlette's own 405 names the
    methods of the first such route only."""
    found: set[str] = set()
    for route in routes(request.app):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            found |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(found))


def domain_reply(error: e.HushanError) -> JsonReply:
    """The reply to an engine's refusal or failure; a pure function of it, so that it can be
    made on a pool thread too (hushan.api.idempotency)."""
    reply = error_response(status_for(error), error.code, error.message)
    if isinstance(error, e.Unavailable):
        reply.headers["retry-after"] = str(error.retry_after)
    if reply.status_code == 401:
        reply.headers["www-authenticate"] = "Bearer"  # RFC 6750: the scheme to retry with
    return reply


def install(app: FastAPI) -> None:
    @app.exception_handler(e.HushanError)
    async def domain_error(_: Request, exc: e.HushanError) -> JsonReply:
        return domain_reply(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JsonReply:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return http_only_reply("malformed_json")
        first = problems[0] if problems else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        message = f"{where or 'body'}: {first.get('msg', 'invalid')}"
        code = first.get("type")
        if code in SCHEMA_CODES:
            return error_response(422, code, message)
        return http_only_reply("invalid_request", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JsonReply:
        if exc.status_code == 405:
            reply = http_only_reply("method_not_allowed")
            reply.headers["allow"] = _allowed_methods(request)
            return reply
        if exc.status_code == 404:
            return http_only_reply("route_not_found")
        if exc.status_code == 400:  # the body could not be decoded at all (e.g. not UTF-8)
            return http_only_reply("malformed_json")
        if exc.status_code == 413:
            return http_only_reply("body_too_large")
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JsonReply:
        log.exception("unexpected error", exc_info=exc)
        return http_only_reply("internal_error")
