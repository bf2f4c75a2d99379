"""Mini-programs through a real `hushan serve` and its worker, on each backend: registering an
app, a user authorising it and granting a contact, the app resolving the pair id, a mutual
delete sending `grant.revoked` to the app's endpoint (signed, through the outbox) while the old
id answers `authorization_required`, rotating the app's key, the refusals; and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from hushan.bootstrap import build
from hushan.cli import app
from hushan.config import Settings
from tests.api_client import Api, expect_error
from tests.receiver import Received, Receiver
from tests.test_webhooks_api import wait_for

ADMIN = "/v1/admin/mini-programs"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


def test_a_mutual_delete_revokes_the_grant_and_tells_the_app(api: Api, receiver: Receiver) -> None:
    made = api.ok("POST", ADMIN, admin=True, json={"name": "games", "url": receiver.url})
    assert made["id"].startswith("mp_") and made["secret"].startswith("whsec_")
    a, b = api.users("a", "b")
    api.befriend(a, b)
    mine = api.ok("PUT", f"/v1/users/{a.id}/mini-programs/{made['id']}", a)
    assert mine == api.ok("PUT", f"/v1/users/{a.id}/mini-programs/{made['id']}", a)
    granted = api.ok(
        "POST", f"/v1/users/{a.id}/mini-programs/{made['id']}/grants", a, json={"friend_id": b.id}
    )
    resolve = f"{ADMIN}/{made['id']}/pair-ids/{granted['pair_id']}"
    assert api.ok("GET", resolve, admin=True) == mine
    api.delete(a, b.id)
    api.delete(b, a.id)
    got: list[Received] = []

    def revoked() -> bool:
        got.extend(r for r in receiver.take() if made["id"] in r.body.decode())
        return bool(got)

    wait_for(revoked)
    (event,) = got
    payload = Webhook(made["secret"]).verify(event.body, event.headers)
    assert payload["type"] == "grant.revoked"
    assert payload["data"]["grants"] == [
        {"pair_id": granted["pair_id"], "open_id": mine["open_id"]}
    ]
    assert a.id not in event.body.decode() and b.id not in event.body.decode()
    expect_error(api.call("GET", resolve, admin=True), 403, "authorization_required")
    again = api.ok("PUT", f"/v1/users/{a.id}/mini-programs/{made['id']}", a)
    assert again == mine  # the user's own OpenID does not change
    assert api.ok("POST", f"{ADMIN}/{made['id']}/rotate-key", admin=True) == {"status": "rotated"}
    rotated = api.ok("PUT", f"/v1/users/{a.id}/mini-programs/{made['id']}", a)
    assert rotated["open_id"] != mine["open_id"]
    assert json.loads(event.body)["data"]["app_id"] == made["id"]


def test_mini_program_refusals(api: Api) -> None:
    a, b = api.users("a", "b")
    ghost = "mp_" + "0" * 16
    expect_error(
        api.call("PUT", f"/v1/users/{a.id}/mini-programs/{ghost}", a),
        404,
        "mini_program_not_found",
    )
    expect_error(
        api.call("POST", ADMIN, admin=True, json={"name": " padded", "url": "http://127.0.0.1/x"}),
        422,
        "invalid_platform_name",
    )
    made = api.ok("POST", ADMIN, admin=True, json={"name": "shop", "url": "http://127.0.0.1:9/x"})
    grants = f"/v1/users/{a.id}/mini-programs/{made['id']}/grants"
    expect_error(api.call("POST", grants, a, json={"friend_id": b.id}), 409, "not_in_your_contacts")
    expect_error(
        api.call("GET", f"{ADMIN}/{made['id']}/pair-ids/p{'A' * 24}", admin=True),
        403,
        "authorization_required",
    )
    expect_error(
        api.call("POST", ADMIN, a, json={"name": "x", "url": "http://127.0.0.1/x"}),
        403,
        "admin_required",
    )
    expect_error(
        api.call("POST", f"{ADMIN}/{ghost}/rotate-key", admin=True), 404, "mini_program_not_found"
    )


def test_the_miniprograms_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["miniprograms", *args, "--db", db])
        return result.exit_code, result.output.strip()

    code, out = run("add", "games", "http://127.0.0.1:9/hook")
    assert code == 0 and "secret: whsec_" in out
    app_id = out.split()[1]
    code, out = run("add", "\tbad", "http://127.0.0.1:9/hook")
    assert code == 1 and "invalid_platform_name" in out
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    for user in ("u", "v"):
        engine.create_user(user)
    engine.send_request("u", "v", "")
    engine.accept_request("v", "u")
    engine.store.close()
    code, own = run("authorise", "u", app_id)
    assert code == 0 and own.startswith("o")
    code, pid = run("grant", "u", app_id, "v")
    assert code == 0 and pid.startswith("p")
    assert run("resolve", app_id, pid) == (0, own)
    assert run("rotate", app_id) == (0, f"rotated {app_id}")
    code, out = run("resolve", app_id, pid)
    assert code == 1 and "authorization_required" in out
    code, out = run("grant", "u", app_id, "ghost")
    assert code == 1 and "user_not_found" in out
