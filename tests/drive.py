"""Run one model action against the real engine and name its outcome like the model does."""

from __future__ import annotations

from hushan.domain.errors import HushanError
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
