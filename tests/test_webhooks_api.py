"""The webhooks admin API and CLI, through a real `hushan serve` (and the worker it starts) on
each backend, delivering to a real receiver on 127.0.0.1: endpoints, signed deliveries, paged
listing, replays, rotation, scopes and refusals."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from hushan.bootstrap import build
from hushan.cli import app
from hushan.config import Settings
from hushan.delivery import Deliverer
from tests.api_client import Api, expect_error, uid
from tests.conftest import BACKENDS, served
from tests.receiver import Receiver
from tests.server import Server
from tests.test_auth_api import as_service, credential

EP = "/v1/admin/webhooks/endpoints"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One retry, at once: a failing delivery is dead within a moment; an endpoint is disabled
    after 16 failures in a row (more than any test but the alert's makes)."""
    yield from served(
        request,
        tmp_path_factory,
        "webhooks",
        HUSHAN_WEBHOOK_RETRY_SCHEDULE="0",
        HUSHAN_WEBHOOK_DISABLE_AFTER_FAILURES="16",
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


def wait_for(find: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := find():
            return found
        time.sleep(0.05)
    raise AssertionError("not within the time")


def deliveries(api: Api, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = api.ok(
        "GET", "/v1/admin/webhooks/deliveries", admin=True, params=params
    )
    return found


def test_an_endpoint_gets_signed_events(api: Api, receiver: Receiver) -> None:
    made = api.ok(
        "POST", EP, admin=True, json={"url": receiver.url, "event_types": ["contact.removed"]}
    )
    assert made["secret"].startswith("whsec_") and made["disabled_at"] is None
    a, b = api.users("a", "b")
    api.befriend(a, b)
    api.delete(a, b.id)
    mine = f'"pair":["{a.id}","{b.id}"]'
    (hit,) = wait_for(lambda: [r for r in receiver.take() if mine in r.body.decode()])
    payload = Webhook(made["secret"]).verify(hit.body, hit.headers)
    assert payload["type"] == "contact.removed" and payload["data"]["actor"] == a.id
    done = wait_for(
        lambda: deliveries(api, endpoint_id=made["id"], state="delivered")["deliveries"]
    )
    assert done[0]["seq"] == payload["data"]["seq"] and done[0]["last_status"] == 204
    listed = api.ok("GET", EP, admin=True)["endpoints"]
    assert made["id"] in {e["id"] for e in listed} and "secret" not in listed[0]


def test_deliveries_page_and_failures_replay(api: Api, receiver: Receiver) -> None:
    dead = api.ok(
        "POST",
        EP,
        admin=True,
        json={"url": "http://127.0.0.1:9/x", "event_types": ["contact.removed"]},
    )
    a, *others = api.users("a", "b", "c", "d")
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    for other in others:
        api.befriend(a, other)
        api.delete(a, other.id)
    failed = wait_for(
        lambda: (
            len(d := deliveries(api, endpoint_id=dead["id"], state="failed")["deliveries"]) == 3
            and d
        )
    )
    assert {d["attempts"] for d in failed} == {2} and failed[0]["last_error"] == "ConnectError"
    first = deliveries(api, endpoint_id=dead["id"], limit=2)
    assert len(first["deliveries"]) == 2 and first["next"] is not None
    rest = deliveries(api, endpoint_id=dead["id"], limit=2, cursor=first["next"])
    assert len(rest["deliveries"]) == 1 and rest["next"] is None
    one = api.ok("POST", f"/v1/admin/webhooks/deliveries/{failed[0]['id']}/replay", admin=True)
    assert one["state"] == "pending" and one["attempts"] == 0
    wait_for(
        lambda: len(deliveries(api, endpoint_id=dead["id"], state="failed")["deliveries"]) == 3
    )
    replayed = api.ok(
        "POST",
        "/v1/admin/webhooks/replay",
        admin=True,
        json={"since": since, "endpoint_id": dead["id"]},
    )
    assert replayed == {"replayed": 3}
    api.ok("DELETE", f"{EP}/{dead['id']}", admin=True)


def test_rotation_and_disable_through_the_api(api: Api, receiver: Receiver) -> None:
    made = api.ok(
        "POST", EP, admin=True, json={"url": receiver.url, "event_types": ["block.added"]}
    )
    rotated = api.ok("POST", f"{EP}/{made['id']}/rotate", admin=True, json={"overlap_seconds": 600})
    assert rotated["secret"] != made["secret"]
    off = api.ok("POST", f"{EP}/{made['id']}/disable", admin=True)
    assert off["disabled_at"] and off["disabled_reason"] == "disabled by the operator"
    a, b = api.users("a", "b")
    api.block(a, b.id)
    # Relayed by the worker, and kept waiting: nothing goes to a disabled endpoint.
    wait_for(lambda: deliveries(api, endpoint_id=made["id"], state="pending")["deliveries"])
    time.sleep(0.5)  # a few of the worker's rounds (every 0.2 s when idle)
    assert deliveries(api, endpoint_id=made["id"], state="pending")["deliveries"]
    assert not [r for r in receiver.take() if b.id in r.body.decode()]
    on = api.ok("POST", f"{EP}/{made['id']}/enable", admin=True)
    assert on["disabled_at"] is None
    hit = wait_for(lambda: [r for r in receiver.take() if b.id in r.body.decode()])[0]
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    for secret in (made["secret"], rotated["secret"]):
        Webhook(secret).verify(hit.body, hit.headers)


def test_an_endpoint_the_worker_disables_raises_an_alert(api: Api) -> None:
    types = ["request.sent", "request.accepted", "contact.added", "contact.removed"]
    dead = api.ok(
        "POST", EP, admin=True, json={"url": "http://127.0.0.1:9/x", "event_types": types}
    )
    a, *others = api.users("a", "b", "c")
    for other in others:  # 5 events a pair, each failing twice: 20 failures in a row
        api.befriend(a, other)
        api.delete(a, other.id)

    def alerts(**params: Any) -> list[dict[str, Any]]:
        found = api.ok("GET", "/v1/admin/webhooks/alerts", admin=True, params=params)["alerts"]
        return [x for x in found if x["endpoint_id"] == dead["id"]]

    (alert,) = wait_for(lambda: alerts(open="true"))
    assert alert["reason"] == "16 failed attempts in a row" and alert["closed_at"] is None
    assert (alert["last_status"], alert["last_error"]) == (None, "ConnectError")
    (listed,) = [e for e in api.ok("GET", EP, admin=True)["endpoints"] if e["id"] == dead["id"]]
    assert listed["disabled_at"] == alert["at"]
    api.ok("POST", f"{EP}/{dead['id']}/enable", admin=True)
    assert alerts(open="true") == []
    (closed,) = alerts()
    assert closed["id"] == alert["id"] and closed["closed_at"] is not None
    api.ok("DELETE", f"{EP}/{dead['id']}", admin=True)
    expect_error(
        api.call("GET", "/v1/admin/webhooks/alerts", admin=True, params={"limit": 0}),
        422,
        "invalid_request",
    )


def test_refusals(api: Api) -> None:
    bad = [
        ({"url": "ftp://x/y", "event_types": ["contact.removed"]}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1/y", "event_types": ["nope"]}, "unknown_event_type"),
    ]
    for body, code in bad:
        expect_error(api.call("POST", EP, admin=True, json=body), 422, code)
    expect_error(
        api.call("POST", f"{EP}/we_{'0' * 16}/enable", admin=True),
        404,
        "webhook_endpoint_not_found",
    )
    expect_error(
        api.call("POST", "/v1/admin/webhooks/deliveries/999999/replay", admin=True),
        404,
        "webhook_delivery_not_found",
    )
    expect_error(
        api.call(
            "POST", "/v1/admin/webhooks/replay", admin=True, json={"since": "2026-01-01T00:00:00"}
        ),
        422,
        "invalid_request",
    )
    expect_error(
        api.call("GET", "/v1/admin/webhooks/deliveries", admin=True, params={"state": "x"}),
        422,
        "invalid_request",
    )
    _, reader = credential(api, "admin:read", name=uid("reader"))
    assert as_service(api, "GET", EP, reader).status_code == 200
    expect_error(as_service(api, "POST", EP, reader, json=bad[0][0]), 403, "scope_required")
    expect_error(api.call("GET", EP), 401, "unauthenticated")


def test_the_cli(tmp_path: Path, receiver: Receiver) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["webhooks", *args, "--db", db])
        return result.exit_code, result.output

    code, out = run("add", receiver.url, "--event", "contact.removed")
    assert code == 0 and "secret: whsec_" in out
    endpoint = out.split()[1].rstrip(";")
    code, out = run("add", "nope", "--event", "contact.removed")
    assert code == 1 and "invalid_webhook_url" in out
    code, out = run("rotate", endpoint, "--overlap", "60")
    assert code == 0 and "new secret: whsec_" in out
    code, out = run("enable", endpoint, "--off")
    assert code == 0 and "disabled=" in out
    code, out = run("list")
    assert endpoint in out and "disabled by the operator" in out
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    engine.create_user("a", verification_required=False)
    engine.create_user("b", verification_required=False)
    engine.send_request("a", "b")
    engine.accept_request("b", "a")
    engine.delete_contact("a", "b")
    engine.relay_events()
    (delivery,) = engine.list_deliveries(endpoint)
    # An endpoint the worker disables at its first failure: an alert for the operator.
    dead, _ = engine.create_endpoint("http://127.0.0.1:9/x", ["contact.removed"])
    engine.limits = dataclasses.replace(engine.limits, webhook_disable_after=1)
    engine.send_request("a", "b")
    engine.delete_contact("b", "a")
    sender = Deliverer(engine, timeout=2, batch=10, threads=1)
    try:
        assert sender.run_once() == 1
    finally:
        sender.close()
    engine.store.close()
    code, out = run("alerts", "--open")
    assert code == 0 and f"{dead.id}  disabled=" in out and "last_error=ConnectError  OPEN" in out
    assert "hushan webhooks enable ID" in out
    code, out = run("enable", dead.id)
    code, out = run("alerts")
    assert code == 0 and dead.id in out and "closed=" in out
    code, out = run("alerts", "--open")
    assert code == 0 and out == ""
    code, out = run("deliveries", "--state", "pending")
    assert code == 0 and f"evt_{delivery.seq}" in out
    code, out = run("replay", str(delivery.id))
    assert code == 0 and "replayed 1" in out
    code, out = run("replay", "--since", "2020-01-01T00:00:00")
    assert code == 0 and "replayed 0" in out
    code, out = run("replay")
    assert code == 2
    code, out = run("remove", endpoint)
    assert code == 0
    code, out = run("remove", endpoint)
    assert code == 1 and "webhook_endpoint_not_found" in out
