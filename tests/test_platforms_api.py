"""Linked platforms through a real `hushan serve` and its worker, on each backend: the registry,
a user's links, what a platform receives, acknowledgement after a 202, the residue report's
pending platforms and the sync rate; and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hushan.bootstrap import build
from hushan.cli import app
from hushan.config import Settings
from tests.api_client import Api, expect_error
from tests.receiver import Received, Receiver
from tests.test_webhooks_api import wait_for

ADMIN = "/v1/admin/platforms"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


def residue(api: Api, user: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok("GET", f"/v1/users/{user.id}/data-residue", user)[
        "histories"
    ]
    return found


def test_a_platform_gets_what_its_user_may_see_and_acknowledges(
    api: Api, receiver: Receiver
) -> None:
    body = {
        "name": "game",
        "url": receiver.url,
        "asset_policy": "manual_unbind",
        "permission_policy": "revoke",
    }
    made = api.ok("POST", ADMIN, admin=True, json=body)
    assert made["secret"].startswith("whsec_") and made["id"].startswith("pf_")
    a, b = api.users("a", "b")
    api.befriend(a, b)
    api.message(a, b.id, "hello")
    linked = api.ok("PUT", f"/v1/users/{b.id}/platforms/{made['id']}", b)
    assert linked == {"status": "linked"}
    assert (
        api.ok("PUT", f"/v1/users/{b.id}/platforms/{made['id']}", b)["status"] == "already_linked"
    )
    assert [p["id"] for p in api.ok("GET", f"/v1/users/{b.id}/platforms", b)["platforms"]] == [
        made["id"]
    ]
    receiver.answer = lambda _: 202  # the platform purges later
    api.block_and_delete(a, b.id)  # B's platform sees the purge, never the block or removal
    mine, got = f'"{b.id}"', list[Received]()

    def purged() -> bool:
        got.extend(r for r in receiver.take() if mine in r.body.decode())
        return any(json.loads(r.body)["type"] == "history.purged" for r in got)

    wait_for(purged)
    types = {json.loads(r.body)["type"] for r in got}
    assert types == {"history.key_destroyed", "history.purged"}  # never the block or removal
    (history,) = wait_for(lambda: [h for h in residue(api, b) if h["platforms_pending"]])
    assert history["platforms_pending"] == [made["id"]]
    pending = api.ok(
        "GET",
        "/v1/admin/webhooks/deliveries",
        admin=True,
        params={"endpoint_id": made["endpoint_id"]},
    )["deliveries"]
    for delivery in pending:
        path = f"{ADMIN}/{made['id']}/deliveries/{delivery['id']}/acknowledge"
        assert api.ok("POST", path, admin=True) == {"status": "acknowledged"}
    assert residue(api, b)[0]["platforms_pending"] == []
    # Its assets are unbound by hand: B's case stays open, whatever the deliveries got.
    (case,) = residue(api, b)[0]["unbind_cases"]
    assert (case["user_id"], case["platform_id"], case["type"]) == (
        b.id,
        made["id"],
        "history.purged",
    )
    cases = f"{ADMIN}/{made['id']}/cases"
    listed = api.ok("GET", cases, admin=True, params={"open": "true", "user_id": b.id})
    assert listed == {"cases": [case], "next": None}
    assert api.ok("POST", f"{cases}/{case['id']}/done", admin=True) == {"status": "done"}
    assert api.ok("POST", f"{cases}/{case['id']}/done", admin=True) == {"status": "already_done"}
    assert residue(api, b)[0]["unbind_cases"] == []
    (closed,) = api.ok("GET", cases, admin=True, params={"user_id": b.id})["cases"]
    assert closed["done_at"] is not None
    rate = api.ok("GET", f"{ADMIN}/{made['id']}/sync", admin=True, params={"window_seconds": 3600})
    assert rate["emitted"] == rate["acknowledged"] == len(pending) and rate["rate"] == 1.0
    assert rate["comparison_rate"] == 0.63  # the article's figure, beside ours
    assert rate["lag_p99_seconds"] >= rate["lag_p50_seconds"] >= 0
    assert api.ok("DELETE", f"/v1/users/{b.id}/platforms/{made['id']}", b)["status"] == "unlinked"
    receiver.answer = lambda _: 204


def test_platform_refusals(api: Api) -> None:
    a = api.users("a")[0]
    body = {
        "name": " padded",
        "url": "http://127.0.0.1/x",
        "asset_policy": "none",
        "permission_policy": "keep",
    }
    expect_error(api.call("POST", ADMIN, admin=True, json=body), 422, "invalid_platform_name")
    ghost = "pf_" + "0" * 16
    expect_error(
        api.call("PUT", f"/v1/users/{a.id}/platforms/{ghost}", a), 404, "platform_not_found"
    )
    expect_error(api.call("GET", f"{ADMIN}/{ghost}/sync", admin=True), 404, "platform_not_found")
    expect_error(
        api.call("POST", f"{ADMIN}/{ghost}/deliveries/1/acknowledge", admin=True),
        404,
        "platform_not_found",
    )
    expect_error(api.call("GET", ADMIN, a), 403, "admin_required")
    expect_error(
        api.call("POST", f"{ADMIN}/{ghost}/cases/1/done", admin=True), 404, "platform_not_found"
    )
    expect_error(api.call("GET", f"{ADMIN}/{ghost}/cases", admin=True), 404, "platform_not_found")
    real = api.ok("POST", ADMIN, admin=True, json=body | {"name": "shop"})["id"]
    expect_error(
        api.call("POST", f"{ADMIN}/{real}/cases/{2**40}/done", admin=True),
        404,
        "unbind_case_not_found",
    )
    expect_error(
        api.call("GET", f"{ADMIN}/{real}/cases", admin=True, params={"user_id": "no one"}),
        422,
        "invalid_user_id",
    )


def test_the_platforms_cli(tmp_path: Path, receiver: Receiver) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["platforms", *args, "--db", db])
        return result.exit_code, result.output

    code, out = run(
        "add", "game", receiver.url, "--assets", "manual_unbind", "--permissions", "revoke"
    )
    assert code == 0 and "secret: whsec_" in out
    platform = out.split()[1]
    code, out = run("add", "\tbad", receiver.url, "--assets", "none", "--permissions", "keep")
    assert code == 1 and "invalid_platform_name" in out
    code, out = run("list")
    assert platform in out and "assets=manual_unbind" in out
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("u")
    engine.store.close()
    code, out = run("link", "u", platform)
    assert code == 0 and "linked" in out
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("v", verification_required=False)
    engine.send_request("u", "v")
    engine.block_and_delete("u", "v")
    engine.relay_events()  # the relay opens the case with the delivery
    engine.store.close()
    code, out = run("cases", platform, "--open")
    assert code == 0 and "  u  evt_" in out and "history.purged" in out and "OPEN" in out
    case = out.split()[0]
    code, out = run("done", platform, case)
    assert code == 0 and f"case {case} done" in out
    code, out = run("done", platform, case)
    assert code == 0 and "already done" in out
    code, out = run("cases", platform, "--open")
    assert code == 0 and out == ""
    code, out = run("done", platform, "999999")
    assert code == 1 and "unbind_case_not_found" in out
    code, out = run("link", "u", platform, "--off")
    assert code == 0 and "unlinked" in out
    code, out = run("link", "ghost", platform)
    assert code == 1 and "user_not_found" in out
    code, out = run("sync", platform)
    # Relayed, none sent (no worker here): only the purge, acknowledged by its case's done.
    assert code == 0 and "acknowledged=1  emitted=" in out and "compare: 63%" in out
