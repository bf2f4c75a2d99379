"""Signed notes and checkpoints against the example of Go's sumdb/note tests."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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


def _reason(parse: Callable[[str], object], text: str) -> str:
    with pytest.raises(NoteError) as caught:
        parse(text)
    return caught.value.reason


def _with_encoded(key: str, change: Callable[[bytes], bytes]) -> str:
    """The key string with its base64 part (after its last fixed "+") decoded and changed."""
    *head, encoded = key.split("+", 4 if key.startswith("PRIVATE+") else 2)
    return "+".join([*head, base64.b64encode(change(base64.b64decode(encoded))).decode()])


def test_a_verifier_key_with_a_plus_in_its_base64_round_trips() -> None:
    """Base64 may hold "+": only the first two "+" of a verifier key separate its parts."""
    for seed in range(256):
        key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        verifier = Signer("example.com/log", key).verifier
        if "+" in str(verifier).split("+", 2)[2]:
            break
    assert "+" in str(verifier).split("+", 2)[2]
    assert str(Verifier.parse(str(verifier))) == str(verifier)


def test_every_malformed_verifier_key_is_refused_with_its_reason() -> None:
    key = NOTE["verifier_key"]
    name, hash_hex, encoded = key.split("+", 2)
    cases = [
        ("x", "verifier_key_malformed"),
        (f"{name}+{hash_hex}", "verifier_key_malformed"),
        (f"{name}+{hash_hex}+{encoded[:10]}*{encoded[10:]}", "verifier_key_malformed"),
        (f"has space+{hash_hex}+{encoded}", "key_name_invalid"),
        (_with_encoded(key, lambda raw: b"\x04" + raw[1:]), "verifier_key_unsupported"),
        (_with_encoded(key, lambda raw: raw[:-1]), "verifier_key_unsupported"),
        (_with_encoded(key, lambda raw: raw + b"\x00"), "verifier_key_unsupported"),
        (f"{name}+{'0' * 8}+{encoded}", "verifier_key_hash_mismatch"),
        (f"{name}+{hash_hex}0+{encoded}", "verifier_key_hash_mismatch"),
        (f"Peter+{hash_hex}+{encoded}", "verifier_key_hash_mismatch"),
    ]
    for text, reason in cases:
        assert _reason(Verifier.parse, text) == reason, text
    assert Verifier.parse(f"{name}+{hash_hex.upper()}+{encoded}").key_hash.hex() == hash_hex


def test_every_malformed_signer_key_is_refused_with_its_reason() -> None:
    key = NOTE["signer_key"]
    _, _, name, hash_hex, encoded = key.split("+", 4)
    cases = [
        ("x", "signer_key_malformed"),
        (f"SECRET+KEY+{name}+{hash_hex}+{encoded}", "signer_key_malformed"),
        (f"PRIVATE+KEYS+{name}+{hash_hex}+{encoded}", "signer_key_malformed"),
        (f"PRIVATE+KEY+{name}+{hash_hex}+{encoded[:10]}*{encoded[10:]}", "signer_key_malformed"),
        (_with_encoded(key, lambda raw: b"\x04" + raw[1:]), "signer_key_unsupported"),
        (f"PRIVATE+KEY+{name}+{'0' * 8}+{encoded}", "signer_key_hash_mismatch"),
    ]
    for text, reason in cases:
        assert _reason(Signer.parse, text) == reason, text


def test_a_signature_is_a_key_hash_and_at_least_one_byte() -> None:
    """A signature line's base64 holds the 4-byte key hash and the signature: four bytes or
    fewer is a malformed line; five is well formed (and, here, not a valid signature)."""
    peter = Verifier.parse(NOTE["verifier_key"])
    text = NOTE["text"]

    def note(blob: bytes) -> str:
        return f"{text}\n\u2014 {peter.name} {base64.b64encode(blob).decode()}\n"

    for short in (b"", peter.key_hash[:3], peter.key_hash):
        assert _reason(peter.open, note(short)) == "note_signature_line_malformed", short
    assert _reason(peter.open, f"{text}\n\u2014 {peter.name}\n") == "note_signature_line_malformed"
    assert _reason(peter.open, note(peter.key_hash + b"\x00")) == "signature_invalid"
    assert _reason(peter.open, note(bytes(4) + b"\x00")) == "signature_missing_for_key"
    assert _reason(peter.open, note(b"").replace(" \n", " AAAA!AAA\n")) == (
        "note_signature_line_malformed"
    )


def test_a_note_text_that_is_not_utf8_is_refused_as_such() -> None:
    peter = Verifier.parse(NOTE["verifier_key"])
    blob = base64.b64encode(peter.key_hash + bytes(64)).decode()
    message = f"lone \ud800 surrogate\n\n\u2014 {peter.name} {blob}\n"
    assert _reason(peter.open, message) == "note_text_not_utf8"


ROOT = base64.b64encode(bytes(range(32))).decode()
EMPTY = base64.b64encode(hashlib.sha256(b"").digest()).decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"origin\n1\n{ROOT}", "checkpoint_malformed"),
        (f"origin\n1\n{ROOT}\nextension", "checkpoint_malformed"),  # no final newline
        (f"origin\n1\n{ROOT}\n\nextension\n", "checkpoint_malformed"),  # an empty line
        (f"origin\n1\n{ROOT}\n\n", "checkpoint_malformed"),
        (f"\n1\n{ROOT}\n", "checkpoint_malformed"),
        (f"origin\n{1 << 64}\n{ROOT}\n", "checkpoint_size_malformed"),
        (f"origin\n{1 << 65}\n{ROOT}\n", "checkpoint_size_malformed"),
        (f"origin\n+1\n{ROOT}\n", "checkpoint_size_malformed"),
        (f"origin\n1\n{ROOT[:10]}!{ROOT[11:]}\n", "checkpoint_root_malformed"),
        (f"origin\n1\n{ROOT[:-4]}\n", "checkpoint_root_malformed"),
        (f"origin\n0\n{ROOT}\n", "checkpoint_root_malformed"),  # not the empty tree's root
    ],
)
def test_each_malformed_checkpoint_is_refused_with_its_reason(text: str, reason: str) -> None:
    assert _reason(Checkpoint.parse, text) == reason


def test_a_checkpoint_of_any_64_bit_size_and_the_empty_tree_is_read() -> None:
    largest = Checkpoint.parse(f"origin\n{(1 << 64) - 1}\n{ROOT}\nextension\n")
    assert (largest.size, largest.root, largest.extensions) == (
        (1 << 64) - 1,
        bytes(range(32)),
        ("extension",),
    )
    empty = Checkpoint.parse(f"origin\n0\n{EMPTY}\n")
    assert (empty.size, empty.root) == (0, hashlib.sha256(b"").digest())


def test_a_text_to_sign_must_end_in_a_newline_and_hold_no_control_character() -> None:
    signer = Signer.parse(NOTE["signer_key"])
    assert _reason(signer.sign, "no newline") == "note_text_must_end_in_newline"
    assert _reason(signer.sign, "a\ttab\n") == "note_text_has_control_characters"


@pytest.mark.parametrize("text", ["\n", "one\n\nblank line within\n", "two\n\n\nblank lines\n"])
def test_a_note_opens_to_its_whole_text_whatever_lines_it_holds(text: str) -> None:
    """The signatures start after the note's last blank line, as Go's note.Open reads them."""
    signer = Signer.parse(NOTE["signer_key"])
    assert signer.verifier.open(signer.sign(text)) == text


def test_a_note_without_a_blank_line_is_malformed() -> None:
    peter = Verifier.parse(NOTE["verifier_key"])
    line = NOTE["signed_message"].split("\n\n")[-1]
    assert _reason(peter.open, NOTE["text"] + line) == "note_malformed"
    assert _reason(peter.open, NOTE["signed_message"].rstrip("\n")) == "note_malformed"
