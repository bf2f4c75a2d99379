"""Legal holds through a real `hushan serve`, on each backend: a table of calls and what each
answers (bad input is a 422 with its code and changes nothing), the flow of a hold from
placement to the purge after its release, and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hushan.cli import app
from tests.api_client import Api, User, expect_error

HOLDS = "/v1/admin/holds"
DAY = 86400.0


def mutually_deleted(api: Api, prefix: str) -> tuple[User, User]:
    a, b = api.users(prefix + "a", prefix + "b")
    api.befriend(a, b)
    api.message(a, b.id, "kept for the case")
    api.delete(a, b.id)
    api.delete(b, a.id)
    return a, b


def residue_of(api: Api, user: User, other: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = api.ok("GET", f"/v1/users/{user.id}/data-residue", user)[
        "histories"
    ]
    (mine,) = [h for h in found if h["other"] == other]
    return mine


# (what is sent, given a pair (a, b) of friends; status; error code or None)
CASES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("user", {"user": "{a}", "reason": "litigation", "case_ref": "C-1"}, 201, None),
    ("pair", {"user": "{a}", "other": "{b}", "reason": "x", "case_ref": "C/2#3"}, 201, None),
    ("expiring", {"user": "{a}", "reason": "r", "case_ref": "C", "expires_at": "+"}, 201, None),
    ("no reason", {"user": "{a}", "reason": "", "case_ref": "C-1"}, 422, "invalid_hold_reason"),
    ("padded", {"user": "{a}", "reason": " r", "case_ref": "C-1"}, 422, "invalid_hold_reason"),
    ("long", {"user": "{a}", "reason": "r" * 501, "case_ref": "C"}, 422, "invalid_hold_reason"),
    ("case", {"user": "{a}", "reason": "r", "case_ref": "C 1"}, 422, "invalid_case_reference"),
    ("no case", {"user": "{a}", "reason": "r", "case_ref": ""}, 422, "invalid_case_reference"),
    ("past", {"user": "{a}", "reason": "r", "case_ref": "C", "expires_at": "-"}, 422, None),
    ("self", {"user": "{a}", "other": "{a}", "reason": "r", "case_ref": "C"}, 422, None),
    ("bad id", {"user": "no such!", "reason": "r", "case_ref": "C"}, 422, "invalid_user_id"),
    ("unknown", {"user": "nobody-9", "reason": "r", "case_ref": "C"}, 404, "user_not_found"),
]
CODES = {"past": "invalid_hold_expiry", "self": "hold_pair_of_one_user"}


@pytest.mark.parametrize(("name", "body", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_placing_a_hold(
    api: Api, name: str, body: dict[str, Any], status: int, code: str | None
) -> None:
    a, b = api.users("ha", "hb")
    api.befriend(a, b)
    now = api.ok("POST", "/v1/admin/clock/advance", admin=True, json={"seconds": 1})["now"]
    sent = {k: v.format(a=a.id, b=b.id) for k, v in body.items()}
    if "expires_at" in sent:  # a day after the server's clock, or the moment it reads
        sent["expires_at"] = (
            now.replace("Z", "+00:00") if sent["expires_at"] == "-" else "2999-01-01T00:00:00Z"
        )
    before = api.ok("GET", HOLDS, admin=True, params={"limit": 1000})["holds"]
    response = api.call("POST", HOLDS, admin=True, json=sent)
    if status == 201:
        assert response.status_code == 201, response.text
        hold = response.json()
        assert hold["scope"] == ("pair" if "other" in sent else "user")
        assert hold["id"].startswith("lh_") and hold["ended_how"] is None
        assert api.ok("GET", f"{HOLDS}/{hold['id']}", admin=True) == hold
        api.ok("DELETE", f"{HOLDS}/{hold['id']}", admin=True)
    else:
        expect_error(response, status, code or CODES[name])
        after = api.ok("GET", HOLDS, admin=True, params={"limit": 1000})["holds"]
        assert after == before  # nothing changed


def test_releasing_what_is_not_there_and_the_admin_key(api: Api) -> None:
    expect_error(api.call("DELETE", f"{HOLDS}/lh_nothing", admin=True), 404, "legal_hold_not_found")
    expect_error(api.call("GET", f"{HOLDS}/lh_nothing", admin=True), 404, "legal_hold_not_found")
    (a,) = api.users("hn")
    body = {"user": a.id, "reason": "r", "case_ref": "C"}
    assert api.call("POST", HOLDS, a, json=body).status_code in (401, 403)
    hold = api.ok("POST", HOLDS, admin=True, json=body)
    released = api.ok("DELETE", f"{HOLDS}/{hold['id']}", admin=True)
    assert released["ended_how"] == "released" and released["ended_at"] is not None
    expect_error(
        api.call("DELETE", f"{HOLDS}/{hold['id']}", admin=True),
        409,
        "legal_hold_already_released",
    )
    live = api.ok("GET", HOLDS, admin=True, params={"live": "true", "limit": 1000})["holds"]
    assert hold["id"] not in {h["id"] for h in live}


def test_a_hold_keeps_a_due_history_until_released_then_the_sweep_purges_it(api: Api) -> None:
    a, b = mutually_deleted(api, "hf")
    c, d = mutually_deleted(api, "hg")
    hold = api.ok(
        "POST", HOLDS, admin=True, json={"user": b.id, "reason": "case", "case_ref": "K-1"}
    )
    api.advance(30 * DAY)
    report = api.sweep()
    assert report["purges_deferred"] >= 1
    kept = residue_of(api, a, b.id)
    assert kept["legal_hold"] is True and kept["key_destroyed_at"] is None
    assert kept["hold_reasons"] == []  # not disclosed by default
    assert api.history(a, b.id)["messages"] == []  # past its date: nobody reads it
    assert residue_of(api, c, d.id)["key_destroyed_at"] is not None  # never held: on time
    expect_error(
        api.call(
            "POST",
            HOLDS,
            admin=True,
            json={"user": c.id, "other": d.id, "reason": "r", "case_ref": "K-2"},
        ),
        409,
        "history_already_purged",
    )
    api.ok("DELETE", f"{HOLDS}/{hold['id']}", admin=True)
    api.sweep()
    gone = residue_of(api, a, b.id)
    assert gone["legal_hold"] is False and gone["key_destroyed_at"] is not None
    actions = [e["action"] for e in api.audit(users=[a.id]) if "hold" in e["action"]]
    assert actions == ["legal_hold_placed", "purge_deferred_legal_hold", "legal_hold_released"]


def test_block_then_delete_under_a_hold_over_http(api: Api) -> None:
    a, b = api.users("hx", "hy")
    api.befriend(a, b)
    api.message(a, b.id, "sealed")
    hold = api.ok(
        "POST",
        HOLDS,
        admin=True,
        json={"user": a.id, "other": b.id, "reason": "r", "case_ref": "S-1"},
    )
    outcome = api.block_and_delete(a, b.id)
    assert outcome["history_purged"] is False
    assert api.contacts(a) == [] and api.history(b, a.id)["messages"] == []
    assert residue_of(api, b, a.id)["legal_hold"] is True
    api.ok("DELETE", f"{HOLDS}/{hold['id']}", admin=True)
    api.sweep()
    assert residue_of(api, b, a.id)["state"] == "purged"


def test_the_cli_places_lists_and_releases(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "h.db")
    assert runner.invoke(app, ["user", "create", "alice", "--db", db]).exit_code == 0
    placed = runner.invoke(
        app, ["hold", "place", "alice", "--reason", "a case", "--case", "C-1", "--db", db]
    )
    assert placed.exit_code == 0, placed.output
    hold_id = placed.output.split()[1]
    assert hold_id.startswith("lh_")
    bad = runner.invoke(app, ["hold", "place", "alice", "--reason", "", "--case", "C", "--db", db])
    assert bad.exit_code == 1 and "invalid_hold_reason" in bad.output
    listed = runner.invoke(app, ["hold", "list", "--live", "--db", db])
    assert hold_id in listed.output and "user=alice" in listed.output
    released = runner.invoke(app, ["hold", "release", hold_id, "--db", db])
    assert released.exit_code == 0 and "released=" in released.output
    again = runner.invoke(app, ["hold", "release", hold_id, "--db", db])
    assert again.exit_code == 1 and "legal_hold_already_released" in again.output
    assert hold_id not in runner.invoke(app, ["hold", "list", "--live", "--db", db]).output
