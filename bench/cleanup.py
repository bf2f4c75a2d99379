"""Progressive cleanup at the issue's size: one JSON line per backend.

Run `python -m bench.cleanup --backend sqlite` and `--backend postgres` (`make bench` runs
both). A user with 1,000 contacts (loaded by `hushan import`; 100 of them had removed the user
without telling them, so the user's removal of those is mutual in fact), then, over HTTP to a
real `hushan serve`:
- the candidates, walked page by page;
- the preview and the removal of all 1,000, in batches of `HUSHAN_CLEANUP_MAX_BATCH` (200),
  each removal with an `Idempotency-Key`;
- the undo of every batch.
Reported: each phase's time as the client saw it over loopback (the server's whole handling of
the requests, one after the other), and the server's CPU seconds for the removals.
Bars (issue 16): the removal of 1,000 contacts takes at most 5 s of server time, and the undo
restores every one-way removal (checked against the contact list and the relation check
afterwards; the 100 silent ones must come back too, with their histories, as the undo answers
the same whatever the other side did).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.engine import ADMIN_KEY, log, require, serving
from bench.scale import Databases, engine_for, key_file, run_on_backend
from bench.serving import tree_cpu_seconds
from hushan.crypto import load_or_create_deployment_key
from hushan.importer import import_edges

CONTACTS = 1000
SILENT_REMOVERS = 100  # the contacts that had removed the owner one-way, silently
BATCH = 200
MAX_REMOVE_SECONDS = 5.0
OWNER = "owner"


def contact(n: int) -> str:
    return f"k{n:04d}"


def load(url: str, work: Path, contacts: int) -> None:
    """The owner and their contacts, both ways but for the silent removers."""
    engine = engine_for(url, load_or_create_deployment_key(key_file(work, url)))
    try:
        lines = [f"{OWNER},{contact(n)}" for n in range(contacts)]
        lines += [f"{contact(n)},{OWNER}" for n in range(SILENT_REMOVERS, contacts)]
        import_edges(engine, lines)
    finally:
        engine.store.close()


def timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def run(backend: str, work: Path, quick: bool) -> dict[str, Any]:
    contacts = 400 if quick else CONTACTS
    databases = Databases(backend, work)
    try:
        url = databases.new("cleanup")
        log(f"cleanup: importing a user with {contacts:,} contacts on {backend}")
        load(url, work, contacts)
        argv = [sys.executable, "-m", "hushan.cli", "serve", "--no-sweep"]
        env = {"HUSHAN_DATABASE_URL": url, "HUSHAN_ADMIN_KEY": ADMIN_KEY}
        with (
            serving(argv, work / "serve.log", env, cwd=work) as server,
            httpx.Client(base_url=server.url, timeout=120) as http,
        ):
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            token = http.post(f"/v1/users/{OWNER}/tokens", headers=admin, json={}).json()["token"]
            return measure(http, token, contacts, lambda: tree_cpu_seconds(server.process.pid))
    finally:
        if backend == "postgres":
            databases.drop()


def measure(http: httpx.Client, token: str, contacts: int, cpu: Any) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/v1/users/{OWNER}/cleanup"
    names = [contact(n) for n in range(contacts)]
    batches = [names[i : i + BATCH] for i in range(0, contacts, BATCH)]

    def walk() -> list[str]:
        found: list[str] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            response = http.get(f"{base}/candidates", headers=auth, params=params)
            require(response.status_code == 200, f"candidates answered {response.text}")
            page = response.json()
            found += [c["id"] for c in page["candidates"]]
            if page["next"] is None:
                return found
            params["cursor"] = page["next"]

    log("cleanup: candidates, preview")
    candidates, candidates_seconds = timed(walk)
    require(candidates == names, "every contact is a candidate")
    previews, preview_seconds = timed(
        lambda: [http.post(f"{base}/preview", headers=auth, json={"contacts": b}) for b in batches]
    )
    require(all(p.status_code == 200 for p in previews), "every preview answered 200")
    partings = {c["plan"]["parting"] for p in previews for c in p.json()["contacts"]}
    require(partings == {"one_way"}, f"a silent removal is not shown: {partings}")

    log(f"cleanup: removing {contacts:,} contacts in {len(batches)} batches")
    used = cpu()

    def remove(batch: list[str]) -> httpx.Response:
        headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        return http.post(f"{base}/batches", headers=headers, json={"contacts": batch})

    removals, remove_seconds = timed(lambda: [remove(b) for b in batches])
    remove_cpu = cpu() - used
    require(all(r.status_code == 201 for r in removals), "every removal answered 201")
    removed = sum(c["status"] == "removed" for r in removals for c in r.json()["contacts"])
    left = http.get(f"/v1/users/{OWNER}/contacts", headers=auth).json()["contacts"]
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    pairs = [{"a": OWNER, "b": n} for n in names]

    def states() -> list[tuple[str, str]]:
        checked = http.post("/v1/admin/relations/check", headers=admin, json={"pairs": pairs})
        return [(r["relation"], r["history_state"]) for r in checked.json()["results"]]

    silent = SILENT_REMOVERS
    after_removal = [("none", "buffered")] * silent + [("b_has_a", "active")] * (contacts - silent)
    require(states() == after_removal, "the silent removers' histories were buffered")

    log("cleanup: undoing every batch")
    ids = [r.json()["id"] for r in removals]
    undos, undo_seconds = timed(
        lambda: [http.post(f"{base}/batches/{i}/undo", headers=auth) for i in ids]
    )
    require(all(u.status_code == 200 for u in undos), "every undo answered 200")
    restored = sum(c["status"] == "restored" for u in undos for c in u.json()["contacts"])
    back = [
        c["id"]
        for c in http.get(
            f"/v1/users/{OWNER}/contacts", headers=auth, params={"limit": 1000}
        ).json()["contacts"]
    ]
    expected = [("a_has_b", "active")] * silent + [("both_way", "active")] * (contacts - silent)
    all_back = back == names and states() == expected
    return {
        "bench": "cleanup",
        "contacts": contacts,
        "batch": BATCH,
        "silent_removers": SILENT_REMOVERS,
        "candidates_seconds": round(candidates_seconds, 3),
        "preview_seconds": round(preview_seconds, 3),
        "remove_seconds": round(remove_seconds, 3),
        "remove_server_cpu_seconds": round(remove_cpu, 3),
        "removed": removed,
        "left_after_removal": len(left),
        "undo_seconds": round(undo_seconds, 3),
        "restored": restored,
        "every_removal_restored": all_back and restored == contacts,
        "limit_remove_seconds": MAX_REMOVE_SECONDS,
        "ok": remove_seconds <= MAX_REMOVE_SECONDS
        and removed == contacts
        and not left
        and all_back
        and restored == contacts,
    }


def main(argv: Sequence[str] | None = None) -> int:
    def one(backend: str, work: Path, quick: bool) -> dict[str, Any]:
        return {"backend": backend, **run(backend, work, quick)}

    return run_on_backend("bench.cleanup", __doc__, argv, one)


if __name__ == "__main__":
    raise SystemExit(main())
