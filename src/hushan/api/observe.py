"""What an operator sees of the API: request ids, access logs, `/metrics`, `/readyz`, and the
rate limits (hushan.api.limits), installed on the app by `install`.

Every request gets an id: the client's `X-Request-Id` if it is 1-128 printable ASCII
characters without spaces, else a new random one. It is echoed in the reply's
`X-Request-Id` and stamped on every log line written while the request runs (hushan.logs).
One access log line is written per request (`HUSHAN_ACCESS_LOG`), except for successful
probes of `/healthz`, `/readyz` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fastapi import Depends, FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.routing import Match

from hushan import logs
from hushan.api import limits
from hushan.api.buckets import RedisBuckets
from hushan.api.errors import error_response, routes
from hushan.api.limits import ASGIApp, Message, Receive, Scope, Send
from hushan.api.metrics import Metrics, StoreCollector, instrument, multiprocess
from hushan.api.openapi import errors_for
from hushan.api.replies import JsonReply, ReadyReply
from hushan.api.security import AdminBearer, Guards, MetricsBearer, is_key
from hushan.config import Settings
from hushan.domain.errors import AdminRequired
from hushan.service import Hushan
from hushan.store.sqlite import SqliteStore

access = logging.getLogger("hushan.access")
log = logging.getLogger("hushan.api")

REQUEST_ID = re.compile(rb"^[\x21-\x7e]{1,128}$")
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
LONG_POLL = re.compile(r"^/v1/users/[^/]+/devices/[^/]+/changes$")
EVENTS = re.compile(r"^/v1/users/[^/]+/devices/[^/]+/events$")
WAITING = re.compile(rb"(^|&)wait=0*[1-9]")  # wait=0 (or none) answers at once
READY_TIMEOUT_SECONDS = 5.0
CODES = {"not_ready": (503, "The database, its schema or a key file is not usable.")}


class RequestMiddleware:
    """Request id, access log line, request counts and latency; the outermost layer, so that
    429s and 500s are counted, logged and carry the id too."""

    def __init__(self, app: ASGIApp, metrics: Metrics, fastapi: FastAPI, access_log: bool):
        self.app = app
        self.metrics = metrics
        self.fastapi = fastapi
        self.access_log = access_log
        # The labelled children, made once each: `labels()` builds and hashes its key on
        # every call, a share of each request's time.
        self._counts: dict[tuple[str, str, int], Counter] = {}
        self._latencies: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        rid = given.decode() if REQUEST_ID.match(given) else os.urandom(8).hex()
        token = logs.request_id.set(rid)
        path = scope["path"]
        gauge = None
        if EVENTS.match(path):
            gauge = self.metrics.event_streams
        elif LONG_POLL.match(path) and WAITING.search(scope["query_string"]):
            gauge = self.metrics.long_polls
        if gauge is not None:
            gauge.inc()
        status = 500
        started = False

        async def sending(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unexpected error")
            if not started:
                reply = error_response(
                    500, "internal_error", "Internal error; nothing was changed."
                )
                reply.headers["x-request-id"] = rid
                await reply(scope, receive, send)
        finally:
            if gauge is not None:
                gauge.dec()
            self._record(scope, status, time.perf_counter() - start, gauge is None)
            logs.request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, timed: bool) -> None:
        method, path = scope["method"], scope["path"]
        route = _template(self.fastapi, scope)
        count = self._counts.get((method, route, status))
        if count is None:
            count = self.metrics.requests.labels(method, route, str(status))
            self._counts[(method, route, status)] = count
        count.inc()
        if timed:
            latency = self._latencies.get((method, route))
            if latency is None:
                latency = self.metrics.latency.labels(method, route)
                self._latencies[(method, route)] = latency
            latency.observe(seconds)
        if self.access_log and not (path in PROBES and status < 400):
            query = scope["query_string"].decode("latin-1")
            target = f"{path}?{query}" if query else path
            client = scope.get("client")
            access.info(
                "%s %s %d %.1fms",
                method,
                target,
                status,
                seconds * 1000,
                extra={
                    "method": method,
                    "path": target,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": client[0] if client else None,
                },
            )


def _template(app: FastAPI, scope: Scope) -> str:
    """The route's path template; found by matching when the request never reached the
    router (a 429); `unmatched` for paths no route has (so they do not become labels)."""
    route = scope.get("route")
    if route is None:
        for candidate in routes(app):
            if candidate.matches(scope)[0] != Match.NONE:
                route = candidate
                break
    return getattr(route, "path", "unmatched")


def _forget_dead_processes(directory: str) -> None:
    """Drop the open-connection gauges of API processes that are gone (multiprocess mode)."""
    from prometheus_client import multiprocess as mp

    for file in Path(directory).glob("gauge_live*_*.db"):
        pid = int(file.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mp.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


@contextlib.contextmanager
def metrics_directory(workers: int) -> Iterator[None]:
    """For `serve --workers N` (N > 1): a fresh directory where every API process writes its
    metrics, removed at the end; an operator's own `PROMETHEUS_MULTIPROC_DIR` is kept."""
    if workers == 1 or multiprocess():
        yield
        return
    directory = tempfile.mkdtemp(prefix="hushan-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def install(
    app: FastAPI, engine: Hushan, guards: Guards, admin_key: str, settings: Settings
) -> None:
    """Rate limits, request ids, access logs, `/metrics` and `/readyz`, on `app`."""
    metrics = Metrics()
    instrument(engine, metrics)
    if isinstance(engine.store, SqliteStore):
        engine.store.batches.listeners.append(metrics.write_batches.observe)
    store = StoreCollector(engine)
    metrics.registry.register(store)
    limiter = limits.Limiter(settings, admin_key, metrics)
    limits.install(app, engine, limiter, guards)
    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        fastapi=app,
        access_log=settings.access_log,
    )
    allowed = [admin_key]
    if settings.metrics_token:
        allowed.append(settings.metrics_token)
    if multiprocess():
        _forget_dead_processes(os.environ["PROMETHEUS_MULTIPROC_DIR"])

    def scrape() -> bytes:
        if not multiprocess():
            return generate_latest(metrics.registry)
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(store)
        return generate_latest(registry)

    app.state.scrape = scrape  # the operator's console shows the same counters

    # Both schemes read the same header: declared apart, they are alternatives in the document.
    async def reader(credentials: AdminBearer, _: MetricsBearer) -> None:
        if not is_key(credentials, *allowed):
            raise AdminRequired()

    @app.get(
        "/metrics",
        response_class=Response,
        tags=["operations"],
        operation_id="metrics_get",
        dependencies=[Depends(reader)],
        responses={
            200: {
                "description": "Prometheus text format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def prometheus_metrics() -> Response:
        """Prometheus text format; the admin key or `HUSHAN_METRICS_TOKEN` as bearer."""
        body = await asyncio.to_thread(scrape)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    key_files = [settings.resolved_key_file(), settings.resolved_log_key_file()]
    head: list[str] = []

    def readiness() -> list[str]:
        problems = []
        try:
            with engine.store.read() as tx:
                revision = tx.schema_revision()
        except Exception as error:
            return [f"database unreachable ({type(error).__name__})"]
        if not head:
            head.append(_migration_head())
        if revision != head[0]:
            problems.append(f"schema at {revision}, migrations at {head[0]}")
        for path in key_files:
            try:
                with open(path, "rb") as file:
                    if not file.read(1):
                        problems.append(f"key file {path.name} is empty")
            except OSError as error:
                problems.append(f"key file {path.name} unreadable ({error.strerror})")
        return problems

    @app.get(
        "/readyz",
        tags=["operations"],
        operation_id="health_ready",
        response_model=ReadyReply,
        responses=errors_for(503),
    )
    async def readyz() -> JsonReply:
        """Ready to serve: the database answers, its schema is current, key files read."""
        try:
            problems = await asyncio.wait_for(asyncio.to_thread(readiness), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            problems = [f"database did not answer in {READY_TIMEOUT_SECONDS:g} s"]
        if problems:
            return error_response(503, "not_ready", "Not ready: " + "; ".join(problems) + ".")
        checks = {"database": "ok", "migrations": "ok", "key_files": "ok"}
        if isinstance(limiter.buckets, RedisBuckets):
            checks["redis"] = "ok" if await limiter.buckets.ping() else "unreachable"
        return JsonReply({"status": "ready", "checks": checks})


def _migration_head() -> str:
    from importlib.resources import files

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(files("hushan") / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    return str(head)
