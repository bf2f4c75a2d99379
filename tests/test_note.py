"""Signed notes and checkpoints against the example of Go's sumdb/note tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hushan.tlog.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint

NOTE = json.loads((Path(__file__).parent / "vectors" / "transparency.json").read_text())[
    "signed_note"
]
OTHER = NOTE["other"]


def test_key_strings_round_trip_and_match_go() -> None:
    signer, verifier = Signer.parse(NOTE["signer_key"]), Verifier.parse(NOTE["verifier_key"])
    assert str(signer) == NOTE["signer_key"] and str(verifier) == NOTE["verifier_key"]
    assert str(signer.verifier) == str(verifier)
    assert verifier.key_hash.hex() == NOTE["key_hash_hex"]


def test_signing_gives_go_s_exact_bytes() -> None:
    # Ed25519 is deterministic: the same key and text must give the published note.
    assert Signer.parse(NOTE["signer_key"]).sign(NOTE["text"]) == NOTE["signed_message"]


def test_opening_go_s_notes() -> None:
    peter = Verifier.parse(NOTE["verifier_key"])
    enoch = Verifier.parse(OTHER["second_key"]["verifier_key"])
    assert peter.open(NOTE["signed_message"]) == NOTE["text"]
    assert peter.open(OTHER["two_signature_message"]) == NOTE["text"]
    assert enoch.open(OTHER["two_signature_message"]) == NOTE["text"]
    with pytest.raises(NoteError, match="signature_missing_for_key"):
        enoch.open(NOTE["signed_message"])


@pytest.mark.parametrize("key", OTHER["rejected_verifier_keys"])
def test_go_s_rejected_verifier_keys_are_rejected(key: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(key)


@pytest.mark.parametrize("message", OTHER["malformed_messages"])
def test_go_s_malformed_notes_are_rejected(message: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(NOTE["verifier_key"]).open(message)


def test_a_changed_text_or_signature_fails() -> None:
    peter = Verifier.parse(NOTE["verifier_key"])
    signed = NOTE["signed_message"]
    with pytest.raises(NoteError, match="signature_invalid"):
        peter.open(signed.replace("problem", "Problem", 1))
    line = signed.rsplit("\n", 2)[1]
    forged = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    with pytest.raises(NoteError):
        peter.open(signed.replace(line, forged))


def test_checkpoints_round_trip_and_check_origin() -> None:
    signer = Signer.generate("example.com/log")
    checkpoint = Checkpoint("example.com/log", 42, bytes(range(32)), ("extension line",))
    note = signer.sign(checkpoint.text())
    assert checkpoint.text().splitlines()[:2] == ["example.com/log", "42"]
    assert open_checkpoint(note, signer.verifier, "example.com/log") == checkpoint
    with pytest.raises(NoteError, match="checkpoint_origin_mismatch"):
        open_checkpoint(note, signer.verifier, "other.example/log")


@pytest.mark.parametrize(
    "text",
    [
        "origin\n42\n",  # no root
        "origin\n042\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n1\nAAAA\n",  # root not 32 bytes
        "origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no final newline
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


@pytest.mark.parametrize("name", ["", "has space", "has+plus"])
def test_key_names_with_spaces_or_plus_are_refused(name: str) -> None:
    with pytest.raises(NoteError, match="key_name_invalid"):
        Signer.generate(name)
