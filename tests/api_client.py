"""HTTP helpers for tests that talk to a real `hushan serve` process (see tests/server.py).

Everything here goes over the wire with httpx: nothing calls the engine in-process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.server import ADMIN_KEY

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def uid(prefix: str = "u") -> str:
    """A user id no other test uses: `prefix` plus a random suffix (always 13 characters
    after the prefix, so two ids with the same prefix have the same length)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class User:
    id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    code: str = body["error"]["code"]
    return code


def expect_error(response: httpx.Response, status: int, code: str) -> None:
    """Assert the response is the documented error, with its stable code."""
    assert (response.status_code, error_code(response)) == (status, code), (
        response.status_code,
        response.text,
    )


class Api:
    """A thin client over one server: each method is one documented endpoint."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- raw calls ----------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        user: User | None = None,
        *,
        admin: bool = False,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent: dict[str, str] = {}
        if admin:
            sent.update(ADMIN_HEADERS)
        if user is not None:
            sent.update(user.auth)
        if content is not None:
            sent["content-type"] = "application/json"
        sent.update(headers or {})
        return self.http.request(
            method, path, headers=sent, json=json, params=params, content=content
        )

    def ok(self, method: str, path: str, user: User | None = None, **kw: Any) -> Any:
        """A call that must succeed (2xx); returns its JSON body."""
        response = self.call(method, path, user, **kw)
        assert 200 <= response.status_code < 300, (
            method,
            path,
            response.status_code,
            response.text,
        )
        return response.json()

    # ---- users --------------------------------------------------------------------------
    def create_user(
        self,
        user_id: str | None = None,
        *,
        verification_required: bool = True,
        display_name: str | None = None,
    ) -> User:
        body: dict[str, Any] = {
            "id": user_id or uid(),
            "verification_required": verification_required,
        }
        if display_name is not None:
            body["display_name"] = display_name
        created = self.ok("POST", "/v1/users", admin=True, json=body)
        return User(created["user"]["id"], created["token"])

    def users(self, *prefixes: str) -> list[User]:
        return [self.create_user(uid(p)) for p in prefixes]

    # ---- requests, contacts, blocks -------------------------------------------------------
    def send_request(self, a: User, to: str, message: str = "") -> str:
        body = self.ok("POST", f"/v1/users/{a.id}/requests", a, json={"to": to, "message": message})
        status: str = body["status"]
        return status

    def accept(self, b: User, requester: str) -> str:
        status: str = self.ok("POST", f"/v1/users/{b.id}/requests/{requester}/accept", b)["status"]
        return status

    def reject(self, b: User, requester: str) -> str:
        status: str = self.ok("POST", f"/v1/users/{b.id}/requests/{requester}/reject", b)["status"]
        return status

    def befriend(self, a: User, b: User) -> None:
        """Make the pair both_way through a request and its acceptance."""
        assert self.send_request(a, b.id, "hi") == "pending"
        assert self.accept(b, a.id) == "added"

    def delete(self, a: User, other: str) -> str:
        status: str = self.ok("DELETE", f"/v1/users/{a.id}/contacts/{other}", a)["status"]
        return status

    def block(self, a: User, other: str) -> str:
        status: str = self.ok("PUT", f"/v1/users/{a.id}/blocks/{other}", a)["status"]
        return status

    def unblock(self, a: User, other: str) -> str:
        status: str = self.ok("DELETE", f"/v1/users/{a.id}/blocks/{other}", a)["status"]
        return status

    def block_and_delete(self, a: User, other: str) -> dict[str, Any]:
        body: dict[str, Any] = self.ok(
            "POST", f"/v1/users/{a.id}/contacts/{other}/block-and-delete", a
        )
        return body

    def contacts(self, a: User) -> list[str]:
        return [c["id"] for c in self.ok("GET", f"/v1/users/{a.id}/contacts", a)["contacts"]]

    def blocks(self, a: User) -> list[str]:
        blocks: list[str] = self.ok("GET", f"/v1/users/{a.id}/blocks", a)["blocks"]
        return blocks

    def requests(self, a: User, direction: str = "incoming") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok(
            "GET", f"/v1/users/{a.id}/requests", a, params={"direction": direction}
        )["requests"]
        return found

    # ---- messages -----------------------------------------------------------------------
    def send(self, a: User, to: str, body: str) -> httpx.Response:
        return self.call("POST", f"/v1/users/{a.id}/messages", a, json={"to": to, "body": body})

    def message(self, a: User, to: str, body: str) -> dict[str, Any]:
        response = self.send(a, to, body)
        assert response.status_code == 201, response.text
        sent: dict[str, Any] = response.json()
        return sent

    def history(self, a: User, other: str, limit: int = 500) -> dict[str, Any]:
        """The whole history `a` can read with `other`, every page (without `next`)."""
        path = f"/v1/users/{a.id}/conversations/{other}/messages"
        found: dict[str, Any] = self.ok("GET", path, a, params={"limit": limit})
        while (cursor := found.pop("next")) is not None:
            page = self.ok("GET", path, a, params={"limit": limit, "cursor": cursor})
            found["messages"].extend(page["messages"])
            found["next"] = page["next"]
        return found

    def bodies(self, a: User, other: str) -> list[str]:
        return [m["body"] for m in self.history(a, other)["messages"]]

    def chats(self, a: User) -> list[str]:
        return [
            c["with"] for c in self.ok("GET", f"/v1/users/{a.id}/conversations", a)["conversations"]
        ]

    # ---- admin --------------------------------------------------------------------------
    def pair(self, a: str, b: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("GET", f"/v1/admin/pairs/{a}/{b}", admin=True)
        return found

    def relations(self, pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        body = {"pairs": [{"a": a, "b": b} for a, b in pairs]}
        found: list[dict[str, Any]] = self.ok(
            "POST", "/v1/admin/relations/check", admin=True, json=body
        )["results"]
        return found

    def relation(self, a: str, b: str) -> str:
        relation: str = self.relations([(a, b)])[0]["relation"]
        return relation

    def sweep(self) -> dict[str, Any]:
        report: dict[str, Any] = self.ok("POST", "/v1/admin/sweep", admin=True)
        return report

    def advance(self, seconds: float) -> None:
        self.ok("POST", "/v1/admin/clock/advance", admin=True, json={"seconds": seconds})

    def audit(self, after: int = 0, users: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every audit entry with a seq past `after`, optionally only those naming one of
        `users`."""
        wanted = None if users is None else set(users)
        return [
            e
            for e in self.pages("/v1/admin/audit", "entries", admin=True)
            if e["seq"] > after and (wanted is None or e["a"] in wanted or e["b"] in wanted)
        ]

    def pages(
        self,
        path: str,
        field: str,
        user: User | None = None,
        admin: bool = False,
        limit: int = 1000,
    ) -> list[Any]:
        """Every item of a list, following `next` to its last page."""
        found: list[Any] = []
        params: dict[str, Any] = {"limit": limit}
        while True:
            page = self.ok("GET", path, user, admin=admin, params=params)
            found.extend(page[field])
            if page["next"] is None:
                return found
            params = {"limit": limit, "cursor": page["next"]}

    def audit_seq(self) -> int:
        """The seq of the newest audit entry (0 when the log is empty)."""
        entries = self.audit()
        return int(entries[-1]["seq"]) if entries else 0
