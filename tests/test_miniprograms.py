"""Mini-programs, on each backend: per-app pseudonymous OpenIDs, pair-scoped ids for
relationship-scoped grants, and what a mutual delete or a block-then-delete does to them (the
grants revoked, `grant.revoked` listed for the app, the old id answering
`authorization_required`, a new grant under a new id), while a user's own OpenID stays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from hushan.clock import iso_utc
from hushan.delivery import Deliverer
from hushan.domain.errors import (
    AuthorizationRequired,
    MiniProgramNotFound,
    NotInYourContacts,
)
from hushan.domain.events import EventType
from hushan.domain.miniprograms import GrantsRevoked, open_id, pair_id
from hushan.domain.platforms import AssetPolicy, PermissionPolicy
from hushan.domain.webhooks import DeliveryState
from hushan.service import Hushan
from tests.drive import befriend
from tests.receiver import Receiver


def test_ids_are_keyed_by_the_app_s_secret() -> None:
    one, two = b"1" * 32, b"2" * 32
    assert open_id(one, "alice") == open_id(one, "alice") != open_id(two, "alice")
    assert open_id(one, "alice") != open_id(one, "bob")
    assert pair_id(one, "alice", "bob", 0) != pair_id(one, "alice", "bob", 1)
    assert pair_id(one, "alice", "bob", 0) != pair_id(one, "bob", "alice", 0)


def test_ids_are_as_docs_api_md_defines_them() -> None:
    """An OpenID is "o" and a pair-scoped id "p", each followed by the first 18 bytes of an
    HMAC-SHA256 under the app's key, in URL-safe base64, of its fields joined by NUL: "user"
    and the user id, or "pair", the granting user, the friend and the pair's epoch. The kind
    leads, so no OpenID can equal a pair id of any fields."""
    key = b"k" * 32

    def mac(*fields: str) -> str:
        digest = hmac.new(key, "\0".join(fields).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    assert open_id(key, "alice") == "o" + mac("user", "alice")
    assert pair_id(key, "alice", "bob", 3) == "p" + mac("pair", "alice", "bob", "3")
    assert len(open_id(key, "alice")) == 25 and "=" not in open_id(key, "alice")


def test_grant_revoked_is_compact_sorted_json() -> None:
    """One byte form per event, as the signature covers the bytes sent."""
    event = GrantsRevoked(7, datetime(2026, 1, 2, tzinfo=UTC), "mp_1", (("p1", "o1"),))
    document = {
        "data": {"app_id": "mp_1", "grants": [{"open_id": "o1", "pair_id": "p1"}], "seq": 7},
        "timestamp": iso_utc(datetime(2026, 1, 2, tzinfo=UTC)),
        "type": "grant.revoked",
    }
    assert event.payload() == json.dumps(document, separators=(",", ":")).encode()


def test_no_id_links_a_user_across_two_mini_programs(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    games, shop = engine.create_mini_program("games")[0], engine.create_mini_program("shop")[0]
    ids = {
        (app.id, kind): value
        for app in (games, shop)
        for kind, value in (
            ("A", engine.open_id(app.id, "A")),
            ("B", engine.open_id(app.id, "B")),
            ("A->B", engine.grant_friend(app.id, "A", "B")),
        )
    }
    assert len(set(ids.values())) == len(ids)  # nothing shared between the apps, or the kinds
    assert engine.resolve_pair_id(games.id, ids[(games.id, "A->B")]) == ids[(games.id, "A")]
    with pytest.raises(AuthorizationRequired):  # one app's id means nothing in another
        engine.resolve_pair_id(shop.id, ids[(games.id, "A->B")])


@pytest.mark.parametrize("way", ["mutual", "block_delete"])
def test_parting_revokes_the_pair_s_grants_and_resets_its_ids(engine: Hushan, way: str) -> None:
    befriend(engine, "A", "B")
    befriend(engine, "A", "C")
    app = engine.create_mini_program("games")[0]
    own = engine.open_id(app.id, "A")
    old = engine.grant_friend(app.id, "A", "B")
    back = engine.grant_friend(app.id, "B", "A")
    kept = engine.grant_friend(app.id, "A", "C")
    start = engine.clock.now()
    engine.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    if way == "mutual":
        engine.delete_contact("A", "B")
        assert engine.resolve_pair_id(app.id, old) == own  # a one-way delete revokes nothing
        engine.delete_contact("B", "A")
    else:
        engine.block_and_delete("A", "B")
    for gone in (old, back):
        with pytest.raises(AuthorizationRequired):
            engine.resolve_pair_id(app.id, gone)
    assert engine.resolve_pair_id(app.id, kept) == own  # another pair's grant holds
    revoked = engine.revocations(app.id, start)
    assert {r.pair_id for r in revoked} == {old, back}
    assert {r.user_open_id for r in revoked} == {own, engine.open_id(app.id, "B")}
    assert engine.open_id(app.id, "A") == own  # the user's own OpenID does not change
    with pytest.raises(NotInYourContacts):
        engine.grant_friend(app.id, "A", "B")
    if way == "mutual":  # friends again, within the buffer: the user authorises anew
        engine.send_request("A", "B", "again?")
        engine.accept_request("B", "A")
        new = engine.grant_friend(app.id, "A", "B")
        assert new != old and engine.resolve_pair_id(app.id, new) == own
        with pytest.raises(AuthorizationRequired):
            engine.resolve_pair_id(app.id, old)


def test_rotating_an_app_s_secret_changes_every_id(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    app = engine.create_mini_program("games")[0]
    before, granted = engine.open_id(app.id, "A"), engine.grant_friend(app.id, "A", "B")
    engine.rotate_mini_program_secret(app.id)
    assert engine.open_id(app.id, "A") != before
    with pytest.raises(AuthorizationRequired):
        engine.resolve_pair_id(app.id, granted)
    with pytest.raises(MiniProgramNotFound):
        engine.open_id("mp_" + "0" * 16, "A")


def test_an_erasure_leaves_no_grant_or_link_naming_the_user(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    app = engine.create_mini_program("games")[0]
    engine.grant_friend(app.id, "A", "B")
    engine.grant_friend(app.id, "B", "A")
    platform, _ = engine.create_platform(
        "game", "http://127.0.0.1:9/x", AssetPolicy.NONE, PermissionPolicy.KEEP
    )
    engine.link_platform("A", platform.id)
    engine.erase_account("A")
    engine.finish_erasures()
    for table in ("mini_program_grants", "platform_links"):
        assert not [row for row in engine.store.dump_rows(table) if "A" in row], table


def test_grant_revoked_reaches_the_app_s_endpoint_through_the_outbox(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    befriend(engine, "A", "C")
    with Receiver().running() as receiver:
        app, secret = engine.create_mini_program("games", receiver.url)
        other, _ = engine.create_mini_program("shop", receiver.url)
        assert secret is not None and app.endpoint_id is not None
        old = engine.grant_friend(app.id, "A", "B")
        back = engine.grant_friend(app.id, "B", "A")
        engine.grant_friend(app.id, "A", "C")
        engine.delete_contact("C", "A")  # one-way: nothing is revoked, nothing sent
        engine.block_and_delete("A", "B")
        sender = Deliverer(engine, timeout=2, batch=10, threads=2)
        try:
            assert sender.run_once() == 1  # the app's one event; the other app had no grant
            assert sender.run_once() == 0
        finally:
            sender.close()
        (got,) = receiver.take()
    payload = Webhook(secret).verify(got.body, got.headers)
    assert set(payload) == {"type", "timestamp", "data"} and payload["type"] == "grant.revoked"
    data = payload["data"]
    with engine.store.read() as tx:
        (entry,) = tx.audit_entries(data["seq"] - 1, 1)
    assert payload["timestamp"] == iso_utc(entry.at)
    assert data["app_id"] == app.id and got.headers["webhook-id"] == f"evt_{data['seq']}_{app.id}"
    assert sorted((g["pair_id"], g["open_id"]) for g in data["grants"]) == sorted(
        [(old, engine.open_id(app.id, "A")), (back, engine.open_id(app.id, "B"))]
    )
    assert "A" not in {data["app_id"], *(g["open_id"] for g in data["grants"])}
    assert engine.list_deliveries(other.endpoint_id) == []
    (delivery,) = engine.list_deliveries(app.endpoint_id)
    assert delivery.state is DeliveryState.DELIVERED


def test_an_erasure_sends_grant_revoked_for_each_of_the_user_s_pairs(engine: Hushan) -> None:
    """Erasing an account parts each of its pairs as a block-then-delete does: the grants either
    side made about the other are revoked in that pair's transaction, and the app's endpoint gets
    `grant.revoked` under the `seq` of the pair's erasure event; a grant between others holds."""
    befriend(engine, "A", "B")
    befriend(engine, "A", "C")
    befriend(engine, "B", "C")
    with Receiver().running() as receiver:
        app, secret = engine.create_mini_program("games", receiver.url)
        assert secret is not None
        own = {u: engine.open_id(app.id, u) for u in "ABC"}
        revoked = {
            engine.grant_friend(app.id, "A", "B"): own["A"],
            engine.grant_friend(app.id, "C", "A"): own["C"],
        }
        kept = engine.grant_friend(app.id, "B", "C")
        engine.erase_account("A")
        sender = Deliverer(engine, timeout=2, batch=10, threads=2)
        try:
            assert sender.run_once() == 2  # one event per erased pair
            assert sender.run_once() == 0
        finally:
            sender.close()
        got = receiver.take()
    sent: dict[str, str] = {}
    with engine.store.read() as tx:
        erasure_seqs = {
            e.seq for e in tx.outbox_after(0, 1000) if e.type is EventType.ACCOUNT_ERASED
        }
    for request in got:
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "grant.revoked"
        assert payload["data"]["seq"] in erasure_seqs  # in the erasing transaction
        sent.update({g["pair_id"]: g["open_id"] for g in payload["data"]["grants"]})
    assert sent == revoked
    for gone in revoked:
        with pytest.raises(AuthorizationRequired):
            engine.resolve_pair_id(app.id, gone)
    assert engine.resolve_pair_id(app.id, kept) == own["B"]
