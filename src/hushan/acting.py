"""Which service credential the current call came through, if any: the audit log records it
beside the user each entry names.

A context variable rather than one more argument to every engine call: the credential is a
fact of the call, not of the relationship rule it runs, and every audit entry passes through
one place (the store's `append_audit`), which reads it. The API sets it for the request; the
engine pool runs each call in the request's context, so it reaches the engine thread. A
library caller sets it with `acting_with`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_credential: ContextVar[str | None] = ContextVar("hushan_acting_credential", default=None)


def current_credential() -> str | None:
    return _credential.get()


def set_credential(credential_id: str | None) -> None:
    """For the rest of this context (one request's task)."""
    _credential.set(credential_id)


@contextmanager
def acting_with(credential_id: str | None) -> Iterator[None]:
    token = _credential.set(credential_id)
    try:
        yield
    finally:
        _credential.reset(token)
