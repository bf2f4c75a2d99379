"""The worker asks the deployment's witnesses (HUSHAN_WITNESSES) to cosign each new checkpoint:
real witnesses over HTTP, one that refuses and one that is down beside one that cosigns, and the
real `hushan worker` with the setting, whose certificates then verify with `--witness`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from hushan.bootstrap import build
from hushan.config import Settings
from hushan.service import Hushan
from hushan.tlog.certificate import LegalBasis, verify
from hushan.tlog.note import Signer
from hushan.tlog.witness import Cosigner, Witness
from hushan.tlog.witness_server import server
from hushan.witnessing import Cosigning, WitnessEndpoint, parse_witnesses
from tests.server import free_port


class Running:
    """A witness served over HTTP on a free port, counting the requests it answered."""

    def __init__(self, name: str, logs: list[Signer], state: Path) -> None:
        self.witness = Witness(Cosigner.generate(name), [s.verifier for s in logs], state)
        self.httpd = server(self.witness, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> WitnessEndpoint:
        return WitnessEndpoint(self.url, self.witness.cosigner.public)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def witnesses(engine: Hushan, tmp_path: Path) -> Iterator[tuple[Running, Running]]:
    """One witness of this log, and one that knows only another log (so refuses this one)."""
    good = Running("witness.example/good", [engine.log.signer], tmp_path / "good")
    other = Running("witness.example/other", [Signer.generate("else/log")], tmp_path / "other")
    yield good, other
    good.close()
    other.close()


def test_witness_entries_are_read_and_each_wrong_one_is_named() -> None:
    a, b = (Cosigner.generate(f"w.example/{n}").public for n in "ab")
    found = parse_witnesses(f" http://127.0.0.1:1/w {a} ;https://w.example/b/ {b};")
    expected = [("http://127.0.0.1:1/w", a), ("https://w.example/b/", b)]
    assert [(w.url, w.key) for w in found] == expected
    assert parse_witnesses("") == parse_witnesses(" ; ") == []
    for text, why in (
        (f"http://x {a} extra", "witness 1: write it as 'URL KEY' (two words)"),
        (f"http://x {a};{b}", "witness 2: write it as 'URL KEY' (two words)"),
        (f"ftp://x {a}", "witness 1: 'ftp://x' is not an http:// or https:// URL"),
        ("http://x w.example/a+00+AA", "witness 1: 'w.example/a+00+AA' is not a witness public"),
        (f"http://x {a}; http://y {a}", "witness 2: the key of w.example/a is given twice"),
    ):
        with pytest.raises(ValueError) as refused:
            parse_witnesses(text)
        assert str(refused.value).startswith(why), refused.value
    with pytest.raises(ValidationError, match="witness 1: 'nowhere' is not an http"):
        Settings(witnesses=f"nowhere {a}")


def test_each_new_checkpoint_is_cosigned_once_whatever_the_other_witnesses_do(
    engine: Hushan, witnesses: tuple[Running, Running], caplog: pytest.LogCaptureFixture
) -> None:
    good, other = witnesses
    down = WitnessEndpoint(f"http://127.0.0.1:{free_port()}", Cosigner.generate("w/down").public)
    cosigning = Cosigning(engine.log, [other.endpoint, down, good.endpoint], timeout=5)
    assert cosigning.run_once() == 0  # an empty log has no checkpoint to ask about
    for user in "ab":
        engine.create_user(user)
    engine.send_request("a", "b", "hi")
    engine.sweep()  # the worker's round: it signs a checkpoint
    with caplog.at_level(logging.WARNING, logger="hushan.witnessing"):
        assert cosigning.run_once() == 1
    latest = engine.log.latest_checkpoint()
    assert latest is not None and good.witness.cosigner.public.cosigned_at(latest.note)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert warned[0].startswith(f"witness witness.example/other ({other.url}) did not cosign")
    assert warned[1].startswith(f"witness w/down ({down.url}) did not cosign checkpoint")
    state = good.witness.state.read_bytes()
    assert cosigning.run_once() == 0  # nothing new: the good witness is not asked again
    assert good.witness.state.read_bytes() == state
    # The log grows: the next round's checkpoint is cosigned from the size the witness saw.
    engine.accept_request("b", "a")
    engine.sweep()
    assert cosigning.run_once() == 1
    grown = engine.log.latest_checkpoint()
    assert grown is not None and grown.size > latest.size
    data = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    verify(data, engine.log.signer.verifier, witnesses=[good.witness.cosigner.public])


def test_the_worker_asks_the_witnesses_it_is_given(tmp_path: Path) -> None:
    db = tmp_path / "hushan.db"
    engine = build(Settings(database_url=f"sqlite:///{db}"))
    try:
        for user in "ab":
            engine.create_user(user)
        engine.send_request("a", "b", "hi")
        good = Running("witness.example/good", [engine.log.signer], tmp_path / "good")
        env = {**os.environ, "HUSHAN_WITNESSES": f"{good.url} {good.witness.cosigner.public}"}
        argv = [sys.executable, "-m", "hushan.cli", "worker", "--db", str(db), "--interval", "0.1"]
        worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            key = good.witness.cosigner.public
            while time.monotonic() < deadline:
                latest = engine.log.latest_checkpoint()
                if latest is not None and key.cosigned_at(latest.note) is not None:
                    break
                time.sleep(0.1)
            data = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
            verify(data, engine.log.signer.verifier, witnesses=[key])
        finally:
            worker.terminate()
            assert worker.wait(timeout=30) == 0
            good.close()
    finally:
        engine.store.close()
