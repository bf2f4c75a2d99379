"""One call of the API, as `hushan.client.ops` builds it: what to send, and (as its type
parameter) what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    operation: str  # the OpenAPI operation id
    method: str
    path: str  # with its parameters filled in
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    keyed: bool = False  # takes an Idempotency-Key: every write does
    form: Literal["json", "text"] = "json"

    @property
    def params(self) -> dict[str, Any]:
        """The query without what the caller left out (the server's default applies)."""
        return {name: value for name, value in self.query.items() if value is not None}

    @property
    def json(self) -> dict[str, Any] | None:
        if self.body is None:
            return None
        return {name: value for name, value in self.body.items() if value is not None}
