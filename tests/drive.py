"""Drive the real engine in tests: run one model action and name its outcome like the model
does, or set up a friendship."""

from __future__ import annotations

import contextlib

from hushan.domain.errors import HushanError, UserExists
from hushan.service import Hushan


def apply(engine: Hushan, action: str, actor: str, other: str, body: str = "") -> str:
    try:
        if action == "request":
            return engine.send_request(actor, other, "hi").value
        if action == "accept":
            return engine.accept_request(actor, other).value
        if action == "reject":
            return engine.reject_request(actor, other).value
        if action == "delete":
            return engine.delete_contact(actor, other).value
        if action == "block":
            return engine.block(actor, other).value
        if action == "unblock":
            return engine.unblock(actor, other).value
        if action == "block_delete":
            engine.block_and_delete(actor, other)
            return "blocked_and_deleted"
        if action == "send":
            engine.send_message(actor, other, body or "hello")
            return "sent"
    except HushanError as error:
        return error.code
    raise ValueError(f"unknown action {action}")


def befriend(engine: Hushan, a: str = "A", b: str = "B") -> None:
    """Make `a` and `b` friends both ways by a request and its acceptance, creating either
    user first if they do not exist yet."""
    for user in (a, b):
        with contextlib.suppress(UserExists):
            engine.create_user(user)
    engine.send_request(a, b)
    engine.accept_request(b, a)
