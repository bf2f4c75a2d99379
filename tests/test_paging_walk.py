"""The issue's bar, over real HTTP on each backend: a paged walk of 5,000 contacts at
`limit=100` returns each contact exactly once while other contacts are added and removed."""

from __future__ import annotations

import random
import subprocess
import sys
import threading

import pytest

from tests.api_client import Api, User, uid
from tests.server import Server

pytestmark = pytest.mark.usefixtures("no_server_errors")

STABLE = 5000
PAGE = 100


def _import(server: Server, lines: list[str]) -> None:
    """The edges, through `hushan import` on the server's own database (the fast bulk path)."""
    source = server.directory / "edges.csv"
    source.write_text("owner,contact\n" + "".join(f"{line}\n" for line in lines))
    where = [] if "HUSHAN_DATABASE_URL" in server.env else ["--db", str(server.db)]
    done = subprocess.run(
        [sys.executable, "-m", "hushan.cli", "import", str(source), *where],
        env=server.env,
        cwd=server.directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _churn(
    url: str, me: User, slots: list[str], stop: threading.Event, step: threading.Event
) -> None:
    """Add and remove contacts whose ids fall among the stable ones, before and after the walk's
    position, until `stop`; `step` is set after each change."""
    with Api(url) as api:
        _change(api, me, slots, stop, step)


def _change(
    api: Api, me: User, slots: list[str], stop: threading.Event, step: threading.Event
) -> None:
    rng = random.Random(7)
    held: list[str] = []
    made = 0
    while not stop.is_set():
        if held and (len(held) > 20 or rng.random() < 0.5):
            gone = held.pop(rng.randrange(len(held)))
            assert api.delete(me, gone) == "deleted"
        else:
            made += 1
            other = api.create_user(f"{rng.choice(slots)}x{made}", verification_required=False)
            assert api.send_request(me, other.id) == "added"
            held.append(other.id)
        step.set()


def test_a_walk_of_5000_contacts_sees_each_once_while_others_come_and_go(
    api: Api, server: Server
) -> None:
    owner = uid("walker")
    stable = [f"{owner}-s{n:04d}" for n in range(STABLE)]
    _import(server, [f"{owner},{contact}" for contact in stable])
    token = api.ok("POST", f"/v1/users/{owner}/tokens", admin=True)["token"]
    me = User(owner, token)
    stop, step = threading.Event(), threading.Event()
    churn = threading.Thread(target=_churn, args=(server.url, me, stable, stop, step))
    seen: list[str] = []
    pages = 0
    churn.start()
    try:
        params: dict[str, object] = {"limit": PAGE}
        while True:
            page = api.ok("GET", f"/v1/users/{owner}/contacts", me, params=params)
            pages += 1
            seen += [c["id"] for c in page["contacts"]]
            if page["next"] is None:
                break
            params = {"limit": PAGE, "cursor": page["next"]}
            # Between every two pages the list changes, before and after the cursor.
            assert step.wait(10)
            step.clear()
    finally:
        stop.set()
        churn.join()
    assert len(seen) == len(set(seen)), "a contact came twice"
    stable_seen = [c for c in seen if "x" not in c.removeprefix(owner)]
    assert sorted(stable_seen) == stable  # each one, once
    assert pages > STABLE // PAGE
