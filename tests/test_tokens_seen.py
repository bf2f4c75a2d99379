"""A request with a user token the process has seen crosses to the engine pool once, not twice
(hushan.api.tokens_seen), on both backends; and the token is still looked at in that trip: one
revoked where this process cannot see it (another process, the CLI) stops working at once, as
does one that expires, and neither answer is kept for an `Idempotency-Key`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hushan.api.app import create_app
from hushan.api.offload import EnginePool
from hushan.clock import ManualClock
from hushan.config import Settings
from hushan.service import Hushan

ADMIN = "admin-key"


def serve(engine: Hushan, work: Callable[[httpx.AsyncClient], Coroutine[Any, Any, None]]) -> None:
    app = create_app(engine, ADMIN, settings=Settings(rate_enabled=False))

    async def run() -> None:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
        ):
            await work(client)

    asyncio.run(run())


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """One entry per call admitted to an engine pool."""
    counted: list[None] = []
    admit = EnginePool._admit

    def counting(pool: EnginePool) -> None:
        counted.append(None)
        admit(pool)

    monkeypatch.setattr(EnginePool, "_admit", counting)
    return counted


def test_a_seen_token_costs_one_trip_and_is_still_looked_at(
    engine: Hushan, trips: list[None]
) -> None:
    engine.create_user("a")
    auth = {"authorization": f"Bearer {engine.issue_token('a')}"}

    async def work(client: httpx.AsyncClient) -> None:
        first = await client.get("/v1/users/a/contacts", headers=auth)
        assert first.status_code == 200
        assert len(trips) == 2  # the token's look, then the handler's call
        again = await client.get("/v1/users/a/contacts", headers=auth)
        assert again.status_code == 200
        assert len(trips) == 3  # both in one trip
        # Another user's path is told as before: the token is looked up on its own then.
        other = await client.get("/v1/users/b/contacts", headers=auth)
        assert other.json()["error"]["code"] == "acting_as_other_user"
        # Revoked behind this process's back: refused on the next request.
        assert engine.revoke_tokens("a", None) >= 1
        keyed = {**auth, "idempotency-key": "k1"}
        gone = await client.put("/v1/users/a/blocks/b", headers=keyed)
        assert gone.status_code == 401
        assert gone.json()["error"]["code"] == "unauthenticated"
        # The 401 was not kept as the key's reply: with a live token the key runs.
        engine.create_user("b")
        auth["authorization"] = f"Bearer {engine.issue_token('a')}"
        blocked = await client.put("/v1/users/a/blocks/b", headers={**keyed, **auth})
        assert blocked.json() == {"status": "blocked"}

    serve(engine, work)


def test_a_seen_token_that_expires_stops_at_once(engine: Hushan, clock: ManualClock) -> None:
    engine.create_user("a")
    token, _ = engine.mint_token("a", ttl=timedelta(seconds=60))
    auth = {"authorization": f"Bearer {token}"}

    async def work(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/users/a/contacts", headers=auth)).status_code == 200
        clock.advance(timedelta(seconds=61))
        expired = await client.get("/v1/users/a/contacts", headers=auth)
        assert expired.json()["error"]["code"] == "token_expired"

    serve(engine, work)
