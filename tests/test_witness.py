"""Witness cosignatures (C2SP tlog-cosignature) and the witness (C2SP tlog-witness): a log
that forks is refused, a growing one is cosigned, and a verifier can require cosignatures."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hushan.service import Hushan
from hushan.tlog import merkle
from hushan.tlog.certificate import CertificateError, LegalBasis, verify
from hushan.tlog.log import WitnessRefused
from hushan.tlog.note import Checkpoint, NoteError, Signer
from hushan.tlog.witness import (
    Cosigner,
    Reply,
    Witness,
    WitnessKey,
    add_checkpoint_request,
    count_cosigned,
    signed_message,
)
from hushan.tlog.witness_server import server


class Tree:
    """A log's leaves in memory, signed with `signer`: enough to make checkpoints and proofs."""

    def __init__(self, signer: Signer, leaves: list[bytes]) -> None:
        self.signer = signer
        self.nodes: dict[tuple[int, int], bytes] = {}
        for index, leaf in enumerate(leaves):
            for level, i, node in merkle.completed_nodes(
                index, merkle.leaf_hash(leaf), lambda lv, j: self.nodes[lv, j]
            ):
                self.nodes[level, i] = node

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[level, index]

    def note(self, size: int) -> str:
        root = merkle.root(size, self.node)
        return self.signer.sign(Checkpoint(self.signer.name, size, root).text())

    def request(self, old: int, size: int) -> str:
        proof = [] if old == 0 else merkle.consistency_proof(old, size, self.node)
        return add_checkpoint_request(old, proof, self.note(size))


@pytest.fixture
def log_signer() -> Signer:
    return Signer.generate("log.example/hushan")


@pytest.fixture
def witness(log_signer: Signer, tmp_path: Path) -> Witness:
    return Witness(
        Cosigner.generate("witness.example/w1"), [log_signer.verifier], tmp_path / "state"
    )


LEAVES = [b"entry %d" % i for i in range(8)]
NOW = 1_764_460_800


def test_a_cosignature_is_the_c2sp_v1_form() -> None:
    cosigner = Cosigner.generate("witness.example/w1")
    body = "log.example/hushan\n5\n" + base64.b64encode(bytes(32)).decode() + "\n"
    line = cosigner.cosign(body, NOW)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    blob = base64.b64decode(encoded)
    public = cosigner.public
    raw = base64.b64decode(str(public).split("+", 2)[2])
    assert raw[0] == 4 and name == "witness.example/w1"
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert int.from_bytes(blob[4:12]) == NOW and len(blob) == 4 + 8 + 64
    public.key.verify(blob[12:], f"cosignature/v1\ntime {NOW}\n{body}".encode())
    assert signed_message(body, NOW) == f"cosignature/v1\ntime {NOW}\n{body}".encode()
    assert WitnessKey.parse(str(public)) == public
    assert str(Cosigner.parse(str(cosigner)).public) == str(public)
    for wrong in ("x", str(public).replace("+", "+0", 1), "a+b+AAAA"):
        with pytest.raises(NoteError, match="witness_key_malformed"):
            WitnessKey.parse(wrong)


def test_the_witness_cosigns_a_log_that_grows(witness: Witness, log_signer: Signer) -> None:
    tree = Tree(log_signer, LEAVES)
    first = witness.add_checkpoint(tree.request(0, 3), NOW)
    assert first.status == 200
    assert witness.cosigner.public.cosigned_at(tree.note(3) + first.body) == NOW
    grown = witness.add_checkpoint(tree.request(3, 8), NOW + 1)
    assert grown.status == 200
    note = tree.note(8) + grown.body
    assert count_cosigned(note, [witness.cosigner.public]) == 1
    # The same checkpoint again is cosigned again; a stale old size is told the latest.
    assert witness.add_checkpoint(tree.request(8, 8), NOW + 2).status == 200
    assert witness.add_checkpoint(tree.request(3, 8), NOW + 3) == Reply(
        409, "text/x.tlog.size", "8\n"
    )


def test_the_witness_refuses_a_fork(witness: Witness, log_signer: Signer) -> None:
    """The log shows the witness one history, then another with the same start: neither a
    larger tree nor one of the same size that does not extend the cosigned one is cosigned."""
    honest = Tree(log_signer, LEAVES[:5])
    forked = Tree(log_signer, [*LEAVES[:3], b"rewritten 3", b"rewritten 4", b"added 5"])
    assert witness.add_checkpoint(honest.request(0, 5), NOW).status == 200
    larger = witness.add_checkpoint(forked.request(5, 6), NOW)
    assert (larger.status, larger.body) == (422, "consistency_old_root_mismatch\n")
    same_size = witness.add_checkpoint(forked.request(5, 5), NOW)
    assert (same_size.status, same_size.body) == (409, "consistency_root_mismatch\n")
    # The record did not move: the honest log still extends what was cosigned.
    assert witness.add_checkpoint(Tree(log_signer, LEAVES).request(5, 8), NOW).status == 200


def test_the_witness_refuses_what_it_cannot_check(
    witness: Witness, log_signer: Signer, tmp_path: Path
) -> None:
    tree = Tree(log_signer, LEAVES)
    stranger = Tree(Signer.generate("other.example/log"), LEAVES)
    impostor = Tree(Signer.generate(log_signer.name), LEAVES)
    assert witness.add_checkpoint(stranger.request(0, 3), NOW).status == 404
    assert witness.add_checkpoint(impostor.request(0, 3), NOW).status == 403
    assert witness.add_checkpoint("old 9\n\n" + tree.note(3), NOW).status == 400
    assert witness.add_checkpoint("no blank line", NOW).status == 400
    assert witness.add_checkpoint("old 01\n\n" + tree.note(3), NOW).status == 400
    not_empty = add_checkpoint_request(0, [bytes(32)], tree.note(3))
    assert witness.add_checkpoint(not_empty, NOW).status == 422
    assert not (tmp_path / "state").exists()  # nothing was cosigned


def test_the_witness_serves_add_checkpoint_over_http(witness: Witness, log_signer: Signer) -> None:
    httpd = server(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}"
        tree = Tree(log_signer, LEAVES)
        reply = httpx.post(url + "/add-checkpoint", content=tree.request(0, 4).encode())
        assert reply.status_code == 200 and reply.text.startswith("\u2014 witness.example/w1 ")
        stale = httpx.post(url + "/add-checkpoint", content=tree.request(0, 4).encode())
        assert (stale.status_code, stale.text) == (409, "4\n")
        assert stale.headers["content-type"] == "text/x.tlog.size"
        assert httpx.post(url + "/elsewhere", content=b"x").status_code == 404
        assert httpx.post(url + "/add-checkpoint", content=b"").status_code == 400
        assert httpx.post(url + "/add-checkpoint", content=b"\xff\n\n").status_code == 400
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def cosigning(engine: Hushan, tmp_path: Path) -> Iterator[tuple[Hushan, Witness]]:
    made = Witness(
        Cosigner.generate("witness.example/w1"), [engine.log.signer.verifier], tmp_path / "w"
    )
    yield engine, made


def submit_to(witness: Witness) -> object:
    def submit(body: str) -> tuple[int, str, str]:
        reply = witness.add_checkpoint(body, NOW)
        return reply.status, reply.content_type, reply.body

    return submit


def test_the_log_keeps_cosignatures_and_certificates_carry_them(
    cosigning: tuple[Hushan, Witness],
) -> None:
    engine, witness = cosigning
    for user in "ab":
        engine.create_user(user)
    engine.send_request("a", "b", "hi")
    key = witness.cosigner.public
    cosigned = engine.log.cosign(submit_to(witness), key)  # type: ignore[arg-type]
    assert key.cosigned_at(cosigned.note) == NOW
    assert engine.log.latest_checkpoint() == cosigned  # served with its cosignature
    data = engine.log.certificate("a", "b", LegalBasis.USER_REQUEST)
    verifier = engine.log.signer.verifier
    verify(data, verifier, witnesses=[key])
    other = Cosigner.generate("witness.example/w2").public
    verify(data, verifier, witnesses=[key, other], witness_threshold=1)
    with pytest.raises(CertificateError, match="witness_cosignatures_too_few: 1 of 2"):
        verify(data, verifier, witnesses=[key, other])
    # The log grows: the next cosigning call proves consistency from what the witness saw.
    engine.accept_request("b", "a")
    grown = engine.log.cosign(submit_to(witness), key)  # type: ignore[arg-type]
    assert grown.size > cosigned.size and key.cosigned_at(grown.note) == NOW


def test_the_log_says_when_a_witness_refuses(cosigning: tuple[Hushan, Witness]) -> None:
    engine, witness = cosigning
    with pytest.raises(WitnessRefused, match="^the log is empty$"):
        engine.log.cosign(submit_to(witness), witness.cosigner.public)  # type: ignore[arg-type]
    engine.create_user("a")
    engine.create_user("b")
    engine.send_request("a", "b", "hi")
    impostor = Cosigner.generate("witness.example/w1").public
    with pytest.raises(WitnessRefused, match="^no valid cosignature from the witness's key$"):
        engine.log.cosign(submit_to(witness), impostor)  # type: ignore[arg-type]

    def refuse(body: str) -> tuple[int, str, str]:
        return 422, "text/plain", "consistency_old_root_mismatch\n"

    with pytest.raises(WitnessRefused, match="^422: consistency_old_root_mismatch$"):
        engine.log.cosign(refuse, witness.cosigner.public)


def test_cosigning_speaks_the_add_checkpoint_protocol(cosigning: tuple[Hushan, Witness]) -> None:
    """A first call asks from size 0 and is done in one request; a witness that has seen this
    very size cosigns it again; a 409 that is not a size (a fork), a size beyond the log, or
    a witness that keeps moving are refused in so many words, after at most two requests; every
    signature line of the reply is kept, and the cosignature goes on the checkpoint it was asked
    for even when the log has published a later one meanwhile."""
    engine, witness = cosigning
    key = witness.cosigner.public
    for user in "ab":
        engine.create_user(user)
    engine.send_request("a", "b", "hi")
    sent: list[str] = []
    real = submit_to(witness)

    def counted(body: str) -> tuple[int, str, str]:
        sent.append(body)
        return real(body)  # type: ignore[operator, no-any-return]

    first = engine.log.cosign(counted, key)
    assert len(sent) == 1 and sent[0].startswith("old 0\n\n")
    again = engine.log.cosign(counted, key)  # the same size: learnt from the 409, then cosigned
    assert again.size == first.size and len(sent) == 3 and sent[2].startswith(f"old {first.size}\n")

    def scripted(*replies: tuple[int, str, str]) -> Callable[[str], tuple[int, str, str]]:
        queue = list(replies)
        return lambda body: queue.pop(0)

    fork = scripted((409, "text/plain", "consistency_root_mismatch\n"))
    with pytest.raises(WitnessRefused, match="^409: consistency_root_mismatch$"):
        engine.log.cosign(fork, key)
    beyond = scripted((409, "text/x.tlog.size", "99\n"))
    with pytest.raises(
        WitnessRefused, match=f"^the witness has seen size 99, beyond {first.size}$"
    ):
        engine.log.cosign(beyond, key)
    moving = scripted(*[(409, "text/x.tlog.size", "2\n")] * 3)
    with pytest.raises(WitnessRefused, match="^409: 2$"):
        engine.log.cosign(moving, key)

    engine.accept_request("b", "a")
    meanwhile: list[int] = []

    def twice_and_later(body: str) -> tuple[int, str, str]:
        status, kind, text = real(body)  # type: ignore[operator]
        if status == 200:  # the log goes on publishing while the witness answers
            engine.delete_contact("a", "b")
            later = engine.log.publish()
            assert later is not None
            meanwhile.append(later.size)
            text = text + text  # two signature lines
        return status, kind, text

    cosigned = engine.log.cosign(twice_and_later, key)
    ours = [x for x in cosigned.note.splitlines() if x.startswith("\u2014 witness.example/w1 ")]
    assert len(ours) == 2 and cosigned.note.endswith(f"\n{ours[0]}\n{ours[0]}\n")
    assert meanwhile and meanwhile[0] > cosigned.size
    latest = engine.log.latest_checkpoint()
    assert (
        latest is not None and latest.size == meanwhile[0] and key.cosigned_at(latest.note) is None
    )


def _key_string_with_plus() -> Cosigner:
    """A witness key whose public and private strings both hold "+" in their base64, as base64
    may: the first such key of a few fixed seeds."""
    for seed in range(256):
        made = Cosigner(
            "witness.example/plus", Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        )
        if "+" in str(made).split("+", 4)[4] and "+" in str(made.public).split("+", 2)[2]:
            return made
    raise AssertionError("no seed gives a key string with a plus")


def _reason(parse: Callable[[str], object], text: str) -> str:
    with pytest.raises(NoteError) as caught:
        parse(text)
    return caught.value.reason


def _swap_encoded(key: str, change: Callable[[bytes], bytes]) -> str:
    """The key string with its base64 part (after its last fixed "+") changed."""
    *head, encoded = key.split("+", 4 if key.startswith("PRIVATE+") else 2)
    return "+".join([*head, base64.b64encode(change(base64.b64decode(encoded))).decode()])


def test_witness_key_strings_round_trip_even_with_a_plus_in_their_base64() -> None:
    made = _key_string_with_plus()
    assert WitnessKey.parse(str(made.public)) == made.public
    again = Cosigner.parse(str(made))
    assert (again.name, str(again)) == (made.name, str(made))


def test_every_malformed_witness_key_is_refused_as_such() -> None:
    """A public key string: a name, the key id, base64 of 0x04 and 32 key bytes. A key for
    another algorithm (a note key's 0x01), a key of another length, base64 with a stray
    character, an empty name or a wrong id are each refused, with the same reason."""
    public = str(Cosigner.generate("witness.example/w1").public)
    name, id_hex, encoded = public.split("+", 2)
    nameless = str(WitnessKey("", Cosigner.generate("x").key.public_key()))
    for wrong in (
        "x",
        f"{name}+{id_hex}",
        nameless,
        f"{name}+{id_hex}+{encoded[:-2]}!{encoded[-1]}",  # not base64
        f"{name}+{id_hex}+{encoded[:10]}*{encoded[10:]}",  # a stray character
        _swap_encoded(public, lambda raw: b"\x01" + raw[1:]),  # a note key, not a cosignature key
        _swap_encoded(public, lambda raw: raw + b"\x00"),
        _swap_encoded(public, lambda raw: raw[:-1]),
        f"{name}+{'0' * 8}+{encoded}",
        f"other.example/w1+{id_hex}+{encoded}",
    ):
        assert _reason(WitnessKey.parse, wrong) == "witness_key_malformed", wrong


def test_every_malformed_witness_private_key_is_refused_as_such() -> None:
    private = str(Cosigner.generate("witness.example/w1"))
    _, _, name, id_hex, encoded = private.split("+", 4)
    for wrong in (
        "x",
        f"PRIVATE+KEY+{name}+{id_hex}",
        f"SECRET+KEY+{name}+{id_hex}+{encoded}",
        f"PRIVATE+KEYS+{name}+{id_hex}+{encoded}",
        f"PRIVATE+KEY+{name}+{id_hex}+{encoded[:10]}*{encoded[10:]}",
        _swap_encoded(private, lambda raw: b"\x01" + raw[1:]),
        _swap_encoded(private, lambda raw: raw + b"\x00"),
        _swap_encoded(private, lambda raw: raw[:-1]),
        f"PRIVATE+KEY+{name}+{'0' * 8}+{encoded}",
        f"PRIVATE+KEY+other.example/w1+{id_hex}+{encoded}",
    ):
        assert _reason(Cosigner.parse, wrong) == "witness_key_malformed", wrong


@pytest.mark.parametrize("name", ["", "has space", "tab\there", "has+plus", "+"])
def test_a_witness_name_with_a_space_or_a_plus_is_refused(name: str) -> None:
    assert _reason(Cosigner.generate, name) == "key_name_invalid"


@pytest.mark.parametrize("timestamp", [0, NOW, 1 << 56, (1 << 64) - 1])
def test_a_cosignature_s_time_is_read_back_whole(timestamp: int) -> None:
    """The time is 8 bytes big-endian: every one of them counts."""
    cosigner = Cosigner.generate("witness.example/w1")
    body = "log.example/hushan\n1\n" + base64.b64encode(bytes(32)).decode() + "\n"
    assert cosigner.public.cosigned_at(body + "\n" + cosigner.cosign(body, timestamp)) == timestamp


def test_only_a_valid_cosignature_under_the_witness_s_name_and_id_counts() -> None:
    """A line under another name or another key id does not count even when its signature is
    the witness's; a bad line before a good one does not hide the good one."""
    cosigner = Cosigner.generate("witness.example/w1")
    key = cosigner.public
    body = "log.example/hushan\n1\n" + base64.b64encode(bytes(32)).decode() + "\n"
    good = cosigner.cosign(body, NOW)
    blob = base64.b64decode(good.rstrip("\n").split(" ")[-1])

    def line(name: str, blob: bytes) -> str:
        return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"

    renamed = line("witness.example/w2", blob)
    other_id = line(key.name, bytes(4) + blob[4:])
    forged = line(key.name, blob[:-1] + bytes([blob[-1] ^ 1]))
    short = line(key.name, blob[:-1])
    for bad in (renamed, other_id, forged, short):
        assert key.cosigned_at(body + "\n" + bad) is None, bad
    later = cosigner.cosign(body, NOW + 5)
    assert key.cosigned_at(body + "\n" + forged + later) == NOW + 5
    assert key.cosigned_at(body + "\n" + renamed + other_id + short + good) == NOW


def test_the_witness_replies_in_so_many_words(
    witness: Witness, log_signer: Signer, tmp_path: Path
) -> None:
    """Each refusal of add-checkpoint: its status, content type and exact body, and nothing
    recorded; then the cosignature, as text/plain."""
    tree = Tree(log_signer, LEAVES)
    note = tree.note(3)
    stranger = Tree(Signer.generate("other.example/log"), LEAVES)
    impostor = Tree(Signer.generate(log_signer.name), LEAVES)
    hashes = [bytes([i]) * 32 for i in range(64)]
    malformed = Reply(400, "text/plain", "malformed request\n")
    cases = [
        ("no blank line", malformed),
        ("old 3\n" + note, malformed),
        ("\n\n" + note, malformed),
        ("new 0\n\n" + note, malformed),
        ("old\n\n" + note, malformed),
        ("old 0 \n\n" + note, malformed),
        ("old -1\n\n" + note, malformed),
        ("old \u0663\n\n" + note, malformed),  # an Arabic-Indic digit three
        ("old 01\n\n" + note, malformed),
        ("old 1\n" + "AAAA!\n\n" + note, malformed),
        ("old 1\n" + "A" * 20 + "*" + "A" * 23 + "=\n\n" + note, malformed),  # a stray character
        (add_checkpoint_request(1, [bytes(31)], note), malformed),
        (add_checkpoint_request(1, hashes, note), malformed),  # 64 hashes: more than a proof holds
        ("old 0\n\n" + note.replace("\n3\n", "\nthree\n"), malformed),
        ("old 0\n\n" + tree.note(3).split("\n\n")[0] + "\n", malformed),
        (stranger.request(0, 3), Reply(404, "text/plain", "unknown log\n")),
        (
            impostor.request(0, 3),
            Reply(403, "text/plain", "no signature from a key the witness trusts\n"),
        ),
        ("old 9\n\n" + note, Reply(400, "text/plain", "old size beyond the checkpoint\n")),
        (
            add_checkpoint_request(0, [bytes(32)], note),
            Reply(422, "text/plain", "a proof from size 0 must be empty\n"),
        ),
        (  # 63 hashes are read as a proof (and this one is refused for coming from size 0)
            add_checkpoint_request(0, hashes[:63], note),
            Reply(422, "text/plain", "a proof from size 0 must be empty\n"),
        ),
    ]
    for request, expected in cases:
        assert witness.add_checkpoint(request, NOW) == expected, request
    assert not (tmp_path / "state").exists()
    first = witness.add_checkpoint(tree.request(0, 3), NOW)
    assert first == Reply(
        200, "text/plain", witness.cosigner.cosign(note.split("\n\n")[0] + "\n", NOW)
    )
    forked = Tree(log_signer, [b"rewritten"] * 5)
    assert witness.add_checkpoint(forked.request(3, 5), NOW) == Reply(
        422, "text/plain", "consistency_old_root_mismatch\n"
    )
    assert witness.add_checkpoint(forked.request(3, 3), NOW) == Reply(
        409, "text/plain", "consistency_root_mismatch\n"
    )


def test_the_state_file_is_the_same_whatever_order_the_logs_came_in(tmp_path: Path) -> None:
    """Two witnesses that cosigned the same checkpoints of two logs, in opposite orders, keep
    byte for byte the same state: nothing else beside it."""
    signers = [Signer.generate("a.example/log"), Signer.generate("b.example/log")]
    requests = [Tree(signer, LEAVES).request(0, 4) for signer in signers]
    cosigner = Cosigner.generate("witness.example/w1")
    states = []
    for name, order in (("one", requests), ("two", requests[::-1])):
        (tmp_path / name).mkdir()
        made = Witness(cosigner, [s.verifier for s in signers], tmp_path / name / "state")
        assert [made.add_checkpoint(r, NOW).status for r in order] == [200, 200]
        assert [p.name for p in (tmp_path / name).iterdir()] == ["state"]
        states.append((tmp_path / name / "state").read_bytes())
    assert states[0] == states[1]
