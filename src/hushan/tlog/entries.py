"""What the transparency log holds for each audit entry, and what a pair's entries prove.

A log entry is the audit entry in canonical JSON (sorted keys, no spaces, UTF-8) with users
named by pseudonymous refs: SHA-256 over a random salt kept per pair and the user id. Refs of
one user differ from pair to pair, so the exported log shows no one's social graph; a holder
who wants to prove who they are discloses the pair's salt and the ids. Message content never
enters an entry, nor do request messages or conversation ids.

Each entry also carries `pair_n`, its place among the pair's entries (1, 2, 3, ...), so a
certificate that leaves out or reorders an entry before the last one it shows is caught by any
verifier; one that leaves out the last ones is caught by the map of each pair's latest entry
(`hushan.tlog.smt`, docs/transparency.md).
`replay` is the single definition of what a pair's entries mean; the verifier and the tests
use it, the server states its claims from live state, and the two must agree.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hushan.clock import iso_utc
from hushan.domain.model import AuditAction, AuditEntry, HistoryState, PairRelation

LEAF_FORMAT = 1
SALT_BYTES = 16
SYSTEM = "system"
_KEYS = {"v", "at", "action", "actor", "a", "b", "relation", "history", "pair_n"}
_OPTIONAL = {"reason", "purge_at"}


class EntryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# One encoder for every call: `json.dumps` with options builds a new one each time, which was a
# tenth of a certificate's verification.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def user_ref(salt: bytes, user_id: str) -> str:
    return hashlib.sha256(b"hushan/user-ref/v1\n" + salt + user_id.encode()).hexdigest()


def detail_fields(detail: str) -> dict[str, str]:
    """The `key=value` words of an audit entry's detail."""
    return dict(word.split("=", 1) for word in detail.split() if "=" in word)


class PairNames:
    """Encodes one pair's entries in turn: its salt, its refs (worked out once each) and its
    running entry count."""

    def __init__(self, salt: bytes, count: int) -> None:
        self.salt, self.count = salt, count
        self._refs: dict[str, str] = {SYSTEM: SYSTEM}

    def ref(self, user: str) -> str:
        found = self._refs.get(user)
        if found is None:
            found = self._refs[user] = user_ref(self.salt, user)
        return found

    def encode(self, entry: AuditEntry) -> str:
        """The canonical log entry of the pair's next audit entry (what its leaf covers)."""
        self.count += 1
        fields = detail_fields(entry.detail) if "=" in entry.detail else {}
        # Every value is hex, an enum value, a time, an int or null: nothing JSON escapes, so
        # the canonical form (keys sorted, no spaces) is written out directly; `decode`
        # re-checks it against `canonical_json` wherever an entry is verified.
        history = "null" if entry.history_state is None else f'"{entry.history_state.value}"'
        extra = "".join(f',"{k}":"{fields[k]}"' for k in ("purge_at", "reason") if k in fields)
        return (
            f'{{"a":"{self.ref(entry.user_a)}","action":"{entry.action.value}",'
            f'"actor":"{self.ref(entry.actor)}","at":"{iso_utc(entry.at)}",'
            f'"b":"{self.ref(entry.user_b)}","history":{history},"pair_n":{self.count}'
            f'{extra},"relation":"{entry.relation.value}","v":{LEAF_FORMAT}}}'
        )


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    action: AuditAction
    actor: str
    a: str
    b: str
    relation: PairRelation
    history: str | None
    pair_n: int
    reason: str | None = None
    purge_at: datetime | None = None


_REF = re.compile(r"[0-9a-f]{64}", re.ASCII)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z", re.ASCII)
# Actions the system takes on its own (expiry, purge), or for someone who is no side of the
# pair: an organisation's administrator (a directory change, a handover offered or left
# unanswered) or the deployment's admin (a legal hold, a member removed); every other action
# has a user actor, one of the pair.
SYSTEM_ACTIONS = {
    AuditAction.REQUEST_EXPIRED,
    AuditAction.KEY_DESTROYED,
    AuditAction.ROWS_PURGED,
    AuditAction.DIRECTORY_CHANGE_OPENED,
    AuditAction.DIRECTORY_CHANGE_APPROVED,
    AuditAction.DIRECTORY_CHANGE_REJECTED,
    AuditAction.DIRECTORY_CHANGE_ESCALATED,
    AuditAction.DIRECTORY_CHANGE_APPLIED,
    AuditAction.HANDOVER_OFFERED,
    AuditAction.HANDOVER_UNANSWERED,
    AuditAction.ORG_MEMBER_REMOVED,
    AuditAction.LEGAL_HOLD_PLACED,
    AuditAction.PURGE_DEFERRED_LEGAL_HOLD,
    AuditAction.LEGAL_HOLD_RELEASED,
}
# Actions that carry `purge_at`: a buffering, and a purge deferred by a legal hold (the date
# the history was due, which a seal sets to its own moment).
PURGE_AT_ACTIONS = {AuditAction.HISTORY_BUFFERED, AuditAction.PURGE_DEFERRED_LEGAL_HOLD}
HOLD_ACTIONS = {
    AuditAction.LEGAL_HOLD_PLACED: True,
    AuditAction.PURGE_DEFERRED_LEGAL_HOLD: True,
    AuditAction.LEGAL_HOLD_RELEASED: False,
}
KEY_REASONS = {"purge_due", "block_delete"}


def is_ref(value: Any) -> bool:
    return isinstance(value, str) and _REF.fullmatch(value) is not None


def parse_time(text: Any, reason: str) -> datetime:
    """A time exactly as `iso_utc` writes it (ASCII digits, microseconds, `Z`)."""
    if not isinstance(text, str) or _TIME.fullmatch(text) is None:
        raise EntryError(reason)
    try:
        # The pattern above fixed the form; this checks the values (no 13th month). Not
        # strptime: it cost 1.5 ms of a certificate's verification, for its locale lookups.
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise EntryError(reason) from None
    if iso_utc(moment) != text:
        raise EntryError(reason)
    return moment


def decode(text: str) -> LogEntry:
    """Parse a log entry strictly: the exact keys, types, values and the canonical form."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise EntryError("entry_not_json") from None
    if not isinstance(value, dict) or not _KEYS <= set(value) <= _KEYS | _OPTIONAL:
        raise EntryError("entry_fields_wrong")
    if canonical_json(value) != text:
        raise EntryError("entry_not_canonical")
    if type(value["v"]) is not int or value["v"] != LEAF_FORMAT:
        raise EntryError("entry_format_unknown")
    try:
        action, relation = AuditAction(value["action"]), PairRelation(value["relation"])
        history = None if value["history"] is None else HistoryState(value["history"]).value
    except (TypeError, ValueError):
        raise EntryError("entry_value_unknown") from None
    if not (is_ref(value["a"]) and is_ref(value["b"]) and value["a"] != value["b"]):
        raise EntryError("entry_refs_malformed")
    actor = value["actor"]
    if not (is_ref(actor) or (actor == SYSTEM and action in SYSTEM_ACTIONS)):
        raise EntryError("entry_refs_malformed")
    if type(value["pair_n"]) is not int or value["pair_n"] < 1:
        raise EntryError("entry_fields_wrong")
    reason = value.get("reason")
    if (action is AuditAction.KEY_DESTROYED) != (reason is not None) or (
        reason is not None and reason not in KEY_REASONS
    ):
        raise EntryError("entry_reason_wrong")
    if ("purge_at" in value) != (action in PURGE_AT_ACTIONS):
        raise EntryError("entry_purge_at_wrong")
    return LogEntry(
        at=parse_time(value["at"], "entry_time_malformed"),
        action=action,
        actor=actor,
        a=value["a"],
        b=value["b"],
        relation=relation,
        history=history,
        pair_n=value["pair_n"],
        reason=reason,
        purge_at=parse_time(value["purge_at"], "entry_time_malformed")
        if "purge_at" in value
        else None,
    )


@dataclass
class PairState:
    """A pair's state as its log entries tell it, seen from `a`."""

    a: str
    b: str
    relation: PairRelation = PairRelation.NONE
    a_blocks_b: bool = False
    b_blocks_a: bool = False
    history_state: str | None = None
    purge_at: datetime | None = None
    key_destroyed_at: datetime | None = None
    key_destroyed_reason: str | None = None
    rows_purged_at: datetime | None = None
    removals: list[tuple[str, str, datetime]] = field(default_factory=list)
    # Whether a legal hold covers the pair's history, as its last hold entry says; None when
    # the pair never had one (and its certificates then carry no such claim).
    legal_hold: bool | None = None
    # The pair's earlier histories, oldest first, each as it ended: a re-add starts a new
    # history without forgetting that the last one was buffered, its key destroyed or purged.
    history: list[PastHistory] = field(default_factory=list)


@dataclass(frozen=True)
class PastHistory:
    state: str
    purge_at: datetime | None
    key_destroyed_at: datetime | None
    key_destroyed_reason: str | None
    rows_purged_at: datetime | None


_FLIPPED = {
    PairRelation.A_HAS_B: PairRelation.B_HAS_A,
    PairRelation.B_HAS_A: PairRelation.A_HAS_B,
}


def replay(entries: list[LogEntry], a: str, b: str) -> PairState:
    """Every entry of one pair, in order, from its first: the state they leave."""
    state = PairState(a, b)
    for n, entry in enumerate(entries, 1):
        if {entry.a, entry.b} != {a, b}:
            raise EntryError("entry_of_another_pair")
        if entry.pair_n != n:
            raise EntryError("pair_entries_missing_or_reordered")
        if entry.actor not in (a, b, SYSTEM):
            raise EntryError("entry_actor_outside_pair")
        same_way = entry.a == a
        state.relation = (
            entry.relation if same_way else _FLIPPED.get(entry.relation, entry.relation)
        )
        if entry.action is AuditAction.HISTORY_STARTED and state.history_state is not None:
            state.history.append(
                PastHistory(
                    state.history_state,
                    state.purge_at,
                    state.key_destroyed_at,
                    state.key_destroyed_reason,
                    state.rows_purged_at,
                )
            )
        state.history_state = entry.history
        _apply(state, entry)
    return state


def _apply(state: PairState, entry: LogEntry) -> None:
    by_a = entry.actor == state.a
    match entry.action:
        case AuditAction.BLOCK_ADDED | AuditAction.BLOCK_REMOVED:
            on = entry.action is AuditAction.BLOCK_ADDED
            if by_a:
                state.a_blocks_b = on
            else:
                state.b_blocks_a = on
        case AuditAction.EDGE_REMOVED:
            other = state.b if by_a else state.a
            state.removals.append((entry.actor, other, entry.at))
        case AuditAction.HISTORY_STARTED:
            state.purge_at = state.key_destroyed_at = state.rows_purged_at = None
            state.key_destroyed_reason = None
        case AuditAction.HISTORY_BUFFERED:
            state.purge_at = entry.purge_at
        case AuditAction.LEGAL_HOLD_PLACED | AuditAction.LEGAL_HOLD_RELEASED:
            state.legal_hold = HOLD_ACTIONS[entry.action]
        case AuditAction.PURGE_DEFERRED_LEGAL_HOLD:
            state.legal_hold, state.purge_at = True, entry.purge_at
        case AuditAction.HISTORY_RESTORED:
            state.purge_at = None
        case AuditAction.KEY_DESTROYED if not _ends_current(state, entry):
            _purge_earlier(state, entry, key=True)
        case AuditAction.KEY_DESTROYED:
            state.key_destroyed_at, state.key_destroyed_reason = entry.at, entry.reason
        case AuditAction.ROWS_PURGED if not _ends_current(state, entry):
            _purge_earlier(state, entry, key=False)
        case AuditAction.ROWS_PURGED:
            state.rows_purged_at = entry.at
        case _:
            pass  # requests and added edges change nothing beyond the relation carried


def _ends_current(state: PairState, entry: LogEntry) -> bool:
    """Whether a purge entry is the current history's. A re-add after the purge date starts a
    new history while the old one's purge is unfinished (its rows, or all of it when a legal
    hold kept it), so a later `key_destroyed` or `rows_purged` may be an earlier history's.
    It is the current one's when that one is at that step: its key still there and the entry
    leaving it purged (a key), or its key gone and its rows not yet (rows)."""
    if entry.action is AuditAction.KEY_DESTROYED:
        return state.key_destroyed_at is None and entry.history == HistoryState.PURGED.value
    return state.key_destroyed_at is not None and state.rows_purged_at is None


def _purge_earlier(state: PairState, entry: LogEntry, key: bool) -> None:
    """A purge step of the latest earlier history still waiting for it: its key destroyed
    (and it purged from then on), or its rows gone. With none waiting, the entry is the
    current history's after all (as every entry was read before histories were told apart)."""
    for n in range(len(state.history) - 1, -1, -1):
        past = state.history[n]
        if key and past.key_destroyed_at is None:
            state.history[n] = replace(
                past,
                state=HistoryState.PURGED.value,
                key_destroyed_at=entry.at,
                key_destroyed_reason=entry.reason,
            )
            return
        if not key and past.key_destroyed_at is not None and past.rows_purged_at is None:
            state.history[n] = replace(past, rows_purged_at=entry.at)
            return
    if key:
        state.key_destroyed_at, state.key_destroyed_reason = entry.at, entry.reason
    else:
        state.rows_purged_at = entry.at
