"""The transactional outbox, on each backend: every audit entry becomes an event in the same
transaction, numbered by the entry's `seq`; a rolled-back change emits nothing; an event carries
the change and never a message body; an erasure leaves no plain id in it."""

from __future__ import annotations

import json

import pytest

from hushan.domain.events import EVENT_OF_ACTION, EventType
from hushan.domain.model import AuditAction, AuditEntry, PairRelation
from hushan.service import Hushan
from tests.drive import befriend


def events(engine: Hushan) -> list[tuple[int, str, str, str, str]]:
    with engine.store.read() as tx:
        found = tx.outbox_after(0, 10_000)
    return [(e.seq, e.type.value, e.actor, e.user_a, e.user_b) for e in found]


def audit(engine: Hushan) -> list[tuple[int, str, str, str, str]]:
    with engine.store.read() as tx:
        entries = tx.audit_entries(0, 10_000)
    return [(e.seq, EVENT_OF_ACTION[e.action].value, e.actor, e.user_a, e.user_b) for e in entries]


def test_every_audit_action_names_an_event_type() -> None:
    assert set(EVENT_OF_ACTION) == set(AuditAction)
    assert len(set(EVENT_OF_ACTION.values())) == len(AuditAction) == len(EventType)


def test_each_audit_entry_is_an_event_with_its_seq(engine: Hushan) -> None:
    befriend(engine)
    engine.send_message("A", "B", "a secret body")
    engine.delete_contact("A", "B")
    engine.delete_contact("B", "A")  # mutual: the history is buffered
    engine.block_and_delete("A", "B")
    found = events(engine)
    assert found == audit(engine)
    types = [t for _, t, *_ in found]
    assert types.count("contact.removed") == 2 and "history.buffered" in types
    assert "history.purged" in types and "block.added" in types


def test_a_rolled_back_change_emits_nothing(engine: Hushan) -> None:
    befriend(engine)
    before = events(engine)
    with pytest.raises(RuntimeError), engine.store.write("A", "B") as tx:
        tx.append_audit(
            AuditEntry(
                at=engine.clock.now(),
                actor="A",
                action=AuditAction.EDGE_REMOVED,
                user_a="A",
                user_b="B",
                relation=PairRelation.B_HAS_A,
                history_state=None,
            )
        )
        tx.audit_entries(0, 1)  # numbered inside the transaction: then it fails
        raise RuntimeError("the change fails after its entries were numbered")
    assert events(engine) == before
    engine.delete_contact("A", "B")
    assert len(events(engine)) == len(before) + 1


def test_an_event_carries_the_change_and_no_body(engine: Hushan) -> None:
    befriend(engine)
    engine.send_message("A", "B", "a secret body")
    engine.block_and_delete("A", "B")
    with engine.store.read() as tx:
        found = tx.outbox_after(0, 10_000)
    for event in found:
        payload = json.loads(event.payload())
        assert set(payload) == {"type", "timestamp", "data"}
        assert set(payload["data"]) == {"seq", "actor", "pair", "relation", "history_state"}
        compact = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        assert event.payload() == compact  # one byte form: the bytes signed
        assert payload["data"]["seq"] == event.seq
        assert sorted(payload["data"]["pair"]) == ["A", "B"]
        assert "a secret body" not in event.payload().decode()
    purged = [e for e in found if e.type is EventType.HISTORY_PURGED]
    assert json.loads(purged[0].payload())["data"]["history_state"] == "purged"


def test_an_erasure_leaves_no_plain_id_in_the_outbox(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    engine.delete_contact("A", "B")
    engine.erase_account("A")
    engine.finish_erasures()
    found = events(engine)
    assert found and all("A" not in (actor, a, b) for _, _, actor, a, b in found)
    assert found == audit(engine)
