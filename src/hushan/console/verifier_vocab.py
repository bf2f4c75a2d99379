"""What the page's certificate verifier (static/verify.js) must know of hushan's log entries,
taken from the code that defines it, so the two cannot drift: the actions, relations and
history states an entry may name, and which actions carry what (hushan.tlog.entries)."""

from __future__ import annotations

from typing import Any, Final

from hushan.domain.model import AuditAction, HistoryState, PairRelation
from hushan.tlog import certificate, entries

VOCAB: Final[dict[str, Any]] = {
    "action": {a.name: a.value for a in AuditAction},
    "relation": {r.name: r.value for r in PairRelation},
    "history": {h.name: h.value for h in HistoryState},
    "system": entries.SYSTEM,
    "system_actions": sorted(a.value for a in entries.SYSTEM_ACTIONS),
    "purge_at_actions": sorted(a.value for a in entries.PURGE_AT_ACTIONS),
    "hold_actions": {a.value: on for a, on in entries.HOLD_ACTIONS.items()},
    "key_reasons": sorted(entries.KEY_REASONS),
    "entry_keys": sorted(entries._KEYS),
    "entry_optional": sorted(entries._OPTIONAL),
    "leaf_format": entries.LEAF_FORMAT,
    "legal_bases": [b.value for b in certificate.LegalBasis],
    "format": certificate.FORMAT,
    "format_1": certificate.FORMAT_1,
    "body_keys": sorted(certificate.BODY_KEYS),
    "body_keys_1": sorted(certificate.BODY_KEYS_1),
}
