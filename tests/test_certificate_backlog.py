"""A certificate request's share of the log's backlog is bounded (issue 11, "heavy work is
bounded"): it integrates at most `CERTIFICATE_CATCH_UP` entries in short transactions and one
batch inside its own, and answers `log_behind` for more, leaving the rest to the worker."""

from __future__ import annotations

import pytest

from hushan.domain.errors import LogBehind
from hushan.importer import import_edges
from hushan.service import Hushan
from hushan.tlog import log as tlog_log
from hushan.tlog.certificate import LegalBasis, verify
from tests.drive import befriend

ENTRIES_PER_IMPORTED_PAIR = 3


def log_size(engine: Hushan) -> int:
    with engine.store.read() as tx:
        return tx.log_head()[0]


def test_a_certificate_never_integrates_a_large_backlog(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over what a request may integrate itself, a certificate answers `log_behind` until
    the worker has caught up; then it is issued and verifies."""
    engine.log.batch = 10
    monkeypatch.setattr(tlog_log, "CERTIFICATE_CATCH_UP", 20)
    import_edges(engine, [f"u{n},v{n}" for n in range(40)])  # 40 pairs: 120 entries
    befriend(engine, "A", "B")
    with pytest.raises(LogBehind):
        engine.log.certificate("A", "B", LegalBasis.USER_REQUEST)
    engine.log.publish()  # the worker's part
    issued = engine.log.certificate("A", "B", LegalBasis.USER_REQUEST)
    verify(issued, engine.log.signer.verifier)


def test_a_request_integrates_exactly_its_bound_then_answers_log_behind(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.log.batch = 10
    monkeypatch.setattr(tlog_log, "CERTIFICATE_CATCH_UP", 20)
    befriend(engine, "A", "B")
    engine.log.publish()
    before = log_size(engine)
    import_edges(engine, [f"u{n},v{n}" for n in range(40)])  # 120 entries waiting
    with pytest.raises(LogBehind):
        engine.log.certificate("A", "B", LegalBasis.USER_REQUEST)
    assert log_size(engine) - before == 20  # two whole batches, and not one more


def test_entries_that_arrive_while_a_request_catches_up_are_not_left_out(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its catch-up a request integrates one batch in its own transaction; if a whole
    batch arrived meanwhile, more may be waiting, and it answers `log_behind` rather than sign a
    checkpoint that could leave the newest entries out."""
    engine.log.batch = 3 * ENTRIES_PER_IMPORTED_PAIR
    befriend(engine, "A", "B")
    caught_up = engine.log._catch_up

    def and_then_a_batch_arrives(limit: int | None = None) -> bool:
        done = caught_up(limit)
        import_edges(engine, [f"late{n},other{n}" for n in range(3)])  # one whole batch
        return done

    monkeypatch.setattr(engine.log, "_catch_up", and_then_a_batch_arrives)
    with pytest.raises(LogBehind):
        engine.log.certificate("A", "B", LegalBasis.USER_REQUEST)
    monkeypatch.undo()
    engine.log.publish()
    verify(engine.log.certificate("A", "B", LegalBasis.USER_REQUEST), engine.log.signer.verifier)


def test_a_backlog_within_the_bound_is_integrated_by_the_request(
    engine: Hushan, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.log.batch = 10
    monkeypatch.setattr(tlog_log, "CERTIFICATE_CATCH_UP", 40)
    import_edges(engine, [f"u{n},v{n}" for n in range(10)])  # 30 entries
    befriend(engine, "A", "B")
    verify(engine.log.certificate("A", "B", LegalBasis.USER_REQUEST), engine.log.signer.verifier)
