from datetime import timedelta

from hushan.domain.model import HistoryState, PairRelation, RequestOutcome
from hushan.service import Hushan


def test_three_ways(engine: Hushan, clock) -> None:
    for u in ("a", "b"):
        engine.create_user(u)
    assert engine.send_request("a", "b", "hi") is RequestOutcome.PENDING
    assert engine.accept_request("b", "a") is RequestOutcome.ADDED
    engine.send_message("a", "b", "hello")
    engine.delete_contact("a", "b")
    assert engine.relation_check([("a", "b")])[0].relation is PairRelation.B_HAS_A
    engine.delete_contact("b", "a")
    h = engine.history("a", "b")
    assert h.state is HistoryState.BUFFERED and [m.body for m in h.messages] == ["hello"]
    engine.send_request("a", "b")
    engine.accept_request("b", "a")
    assert engine.history("b", "a").state is HistoryState.ACTIVE
    engine.block_and_delete("a", "b")
    assert engine.history("b", "a").state is HistoryState.PURGED
    clock.advance(timedelta(days=31))
    engine.sweep()
