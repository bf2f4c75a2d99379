"""`hushan demo`: the three ways to part, step by step, as each side sees them."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hushan.bootstrap import build
from hushan.clock import ManualClock
from hushan.config import Settings
from hushan.domain.errors import HushanError
from hushan.service import Hushan


class _Walk:
    def __init__(self, engine: Hushan, clock: ManualClock, console: Console) -> None:
        self.engine, self.clock, self.console = engine, clock, console

    def befriend(self, a: str, b: str) -> None:
        for user in (a, b):
            self.engine.create_user(user, user.title())
        self.engine.send_request(a, b, f"I'm {a.title()}")
        self.engine.accept_request(b, a)
        self.engine.send_message(a, b, f"hi {b.title()}")
        self.engine.send_message(b, a, f"hi {a.title()}")

    def act(self, label: str, action: object) -> None:
        self.console.print(f"  [cyan]>[/cyan] {label}: [bold]{action}[/bold]")

    def try_message(self, sender: str, recipient: str) -> str:
        try:
            self.engine.send_message(sender, recipient, "are you there?")
        except HushanError as error:
            return f"refused: {error.code}"
        return "delivered"

    def show(self, a: str, b: str, title: str) -> None:
        table = Table(title=title, title_justify="left")
        table.add_column("")
        table.add_column(a.title())
        table.add_column(b.title())
        contacts = [
            str(other in {c.user_id for c in self.engine.list_contacts(me)})
            for me, other in ((a, b), (b, a))
        ]
        table.add_row("has the other in contacts", *contacts)
        histories = [self.engine.history(me, other) for me, other in ((a, b), (b, a))]
        table.add_row(
            "chat history",
            *[
                f"{h.state.value if h.state else 'none'}, {len(h.messages)} messages"
                + (f", purge at {h.purge_at:%Y-%m-%d}" if h.purge_at else "")
                for h in histories
            ],
        )
        table.add_row("sending a message", self.try_message(a, b), self.try_message(b, a))
        self.console.print(table)


def run(console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="hushan-demo-") as directory:
        clock = ManualClock()
        settings = Settings(database_url=f"sqlite:///{Path(directory) / 'demo.db'}")
        engine = build(settings, clock)
        walk = _Walk(engine, clock, console)
        try:
            _one_way(walk)
            _mutual(walk)
            _block_delete(walk)
        finally:
            engine.store.close()


def _one_way(walk: _Walk) -> None:
    walk.console.rule("1. one-way delete (单向删除)")
    walk.befriend("alice", "bob")
    walk.show("alice", "bob", "friends, two messages each way")
    walk.act("alice removes bob", walk.engine.delete_contact("alice", "bob"))
    walk.show("alice", "bob", "bob is not told; his next message is refused")
    walk.act("alice adds bob again", walk.engine.send_request("alice", "bob"))
    walk.show("alice", "bob", "bob still had alice: added at once, no verification")


def _mutual(walk: _Walk) -> None:
    engine, clock = walk.engine, walk.clock
    walk.console.rule("2. mutual delete (互删) with restore, then purge")
    walk.befriend("carol", "dave")
    walk.act("carol removes dave", engine.delete_contact("carol", "dave"))
    walk.act("dave removes carol", engine.delete_contact("dave", "carol"))
    walk.show("carol", "dave", "mutual delete: history buffered, read-only, purge date shown")
    clock.advance(timedelta(days=10))
    walk.act("10 days later, carol asks dave again", engine.send_request("carol", "dave", "sorry"))
    walk.act("dave accepts", engine.accept_request("dave", "carol"))
    walk.show("carol", "dave", "inside the 30-day buffer: the whole history is back")
    engine.delete_contact("carol", "dave")
    engine.delete_contact("dave", "carol")
    walk.act("they part again, and 31 days pass", "deleted both ways")
    clock.advance(timedelta(days=31))
    report = engine.sweep()
    walk.act("purge sweep", f"{report.keys_destroyed} key destroyed, {report.rows_deleted} rows")
    walk.show("carol", "dave", "after the purge: gone for good")


def _block_delete(walk: _Walk) -> None:
    engine = walk.engine
    walk.console.rule("3. block, then delete (拉黑删除)")
    walk.befriend("erin", "frank")
    outcome = engine.block_and_delete("erin", "frank")
    walk.act("erin blocks and removes frank", f"history purged: {outcome.history_purged}")
    walk.show("erin", "frank", "erased at once for both; frank's message is refused")
    walk.act("erin unblocks frank", engine.unblock("erin", "frank"))
    walk.act("erin adds frank again", engine.send_request("erin", "frank"))
    walk.show("erin", "frank", "friends again, but nothing of the old history returns")
