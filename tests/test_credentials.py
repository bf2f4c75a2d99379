"""Service credentials and user tokens: the scope rules (domain), and the engine over each
store on both backends (hashed secrets, rotation overlap, revocation, expiry, last use)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hushan.acting import acting_with
from hushan.clock import ManualClock
from hushan.domain import credentials as rules
from hushan.domain.credentials import Scope
from hushan.domain.errors import (
    ActAsMismatch,
    ActAsRequired,
    CredentialNotFound,
    InvalidCredentialName,
    InvalidTokenTtl,
    NoCurrentToken,
    ScopeNotGrantable,
    ScopeRequired,
    TokenExpired,
    TokenNotFound,
    Unauthenticated,
    UserNotFound,
)
from hushan.service import Hushan, hash_token

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


# ---- the rules --------------------------------------------------------------------------------
def test_admin_calls_need_read_or_write_by_method() -> None:
    assert rules.admin_scope("GET") is Scope.ADMIN_READ
    assert rules.admin_scope("head") is Scope.ADMIN_READ
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert rules.admin_scope(method) is Scope.ADMIN_WRITE


def test_any_one_of_the_needed_scopes_will_do() -> None:
    rules.require({Scope.TOKENS_MINT}, *rules.MINTING)
    rules.require({Scope.USERS_ACT}, *rules.MINTING)
    with pytest.raises(ScopeRequired, match="tokens:mint or users:act"):
        rules.require({Scope.ADMIN_READ, Scope.ADMIN_WRITE}, *rules.MINTING)
    with pytest.raises(ScopeRequired):
        rules.require(set(), Scope.ADMIN_READ)
    with pytest.raises(ScopeRequired):  # writing does not include reading
        rules.require({Scope.ADMIN_WRITE}, Scope.ADMIN_READ)


def test_a_credential_grants_only_what_it_holds() -> None:
    rules.check_grantable(rules.EVERY_SCOPE, rules.EVERY_SCOPE)
    rules.check_grantable({Scope.ADMIN_WRITE, Scope.USERS_ACT}, {Scope.USERS_ACT})
    rules.check_grantable({Scope.ADMIN_WRITE}, set())
    with pytest.raises(ScopeNotGrantable, match="users:act"):
        rules.check_grantable({Scope.ADMIN_WRITE}, {Scope.USERS_ACT, Scope.ADMIN_WRITE})
    with pytest.raises(ScopeNotGrantable) as refused:  # each scope missing, named once
        rules.check_grantable(set(), {Scope.USERS_ACT, Scope.ADMIN_READ})
    assert refused.value.message.endswith("you do not hold: admin:read, users:act.")


def test_acting_names_the_paths_user() -> None:
    assert rules.acted_user("alice", "alice") == "alice"
    with pytest.raises(ActAsRequired):
        rules.acted_user("alice", None)
    with pytest.raises(ActAsMismatch):
        rules.acted_user("alice", "bob")
    with pytest.raises(ActAsMismatch):
        rules.acted_user("alice", "Alice")


def test_token_lifetimes_are_bounded_by_the_default() -> None:
    default = 30 * DAY
    assert rules.token_expiry(NOW, default, None) == NOW + default
    assert rules.token_expiry(NOW, default, default) == NOW + default
    assert rules.token_expiry(NOW, default, timedelta(minutes=1)) == NOW + timedelta(minutes=1)
    for wrong in (timedelta(seconds=59), default + timedelta(seconds=1), timedelta(0)):
        with pytest.raises(InvalidTokenTtl, match="ttl is 60 to 2592000 seconds"):
            rules.token_expiry(NOW, default, wrong)


def test_expiry_is_exclusive_and_none_never_expires() -> None:
    assert not rules.expired(None, NOW)
    assert not rules.expired(NOW + timedelta(microseconds=1), NOW)
    assert rules.expired(NOW, NOW)


def test_last_use_is_written_at_most_once_per_interval() -> None:
    minute = timedelta(minutes=1)
    assert rules.touch_due(None, NOW, minute)
    assert not rules.touch_due(NOW - timedelta(seconds=59), NOW, minute)
    assert rules.touch_due(NOW - minute, NOW, minute)


def test_names_are_labels() -> None:
    assert rules.check_name("app backend 后端") == "app backend 后端"
    for wrong in ("", " x", "x ", "a\nb", "x" * 65):
        with pytest.raises(InvalidCredentialName):
            rules.check_name(wrong)


# ---- the engine on each backend ---------------------------------------------------------------
def _clock(engine: Hushan) -> ManualClock:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    return clock


def _stored_text(engine: Hushan, *tables: str) -> str:
    return repr([list(engine.store.dump_rows(t)) for t in tables])


def test_a_credential_is_stored_hashed_and_authenticates(engine: Hushan) -> None:
    credential, secret = engine.create_credential("backend", [Scope.USERS_ACT])
    assert secret.startswith(rules.SECRET_PREFIX) and credential.id.startswith("c_")
    stored = _stored_text(engine, "credentials", "credential_secrets")
    assert secret not in stored and hash_token(secret) in stored
    found = engine.authenticate_service(secret)
    assert (found.id, found.name) == (credential.id, "backend")
    assert found.scopes == frozenset({Scope.USERS_ACT})
    with pytest.raises(Unauthenticated):
        engine.authenticate_service(secret + "x")
    assert [c.id for c in engine.list_credentials()] == [credential.id]


def test_a_live_credential_is_found_by_id_until_it_is_revoked(engine: Hushan) -> None:
    credential, _ = engine.create_credential("operator", [Scope.ADMIN_READ])
    found = engine.live_credential(credential.id)
    assert found is not None and found.scopes == frozenset({Scope.ADMIN_READ})
    assert engine.live_credential("c_0000000000000000") is None
    engine.revoke_credential(credential.id, rules.EVERY_SCOPE)
    assert engine.live_credential(credential.id) is None


def test_acting_for_a_missing_user_is_user_not_found(engine: Hushan) -> None:
    _, secret = engine.create_credential("backend", [Scope.USERS_ACT])
    engine.create_user("alice")
    assert engine.authenticate_service(secret, "alice").scopes == {Scope.USERS_ACT}
    with pytest.raises(UserNotFound):
        engine.authenticate_service(secret, "ghost")


def test_rotation_overlaps_then_the_old_secret_stops(engine: Hushan) -> None:
    clock = _clock(engine)
    credential, old = engine.create_credential("backend", [Scope.ADMIN_READ])
    rotated, new = engine.rotate_credential(credential.id, timedelta(minutes=5))
    assert rotated.id == credential.id and new != old
    assert rotated.previous_expires_at == clock.now() + timedelta(minutes=5)
    assert engine.authenticate_service(old).id == engine.authenticate_service(new).id
    clock.advance(timedelta(minutes=5))
    with pytest.raises(Unauthenticated):
        engine.authenticate_service(old)
    assert engine.authenticate_service(new).id == credential.id
    assert engine.list_credentials()[0].previous_expires_at is None


def test_a_second_rotation_keeps_the_first_overlap_and_no_overlap_is_at_once(
    engine: Hushan,
) -> None:
    clock = _clock(engine)
    credential, first = engine.create_credential("backend", [Scope.ADMIN_READ])
    _, second = engine.rotate_credential(credential.id, timedelta(minutes=5))
    _, third = engine.rotate_credential(credential.id, timedelta(hours=1))
    clock.advance(timedelta(minutes=5))
    with pytest.raises(Unauthenticated):
        engine.authenticate_service(first)
    engine.authenticate_service(second)
    _, fourth = engine.rotate_credential(credential.id)
    for gone in (second, third):
        with pytest.raises(Unauthenticated):
            engine.authenticate_service(gone)
    engine.authenticate_service(fourth)


def test_revocation_is_at_once_for_every_secret(engine: Hushan) -> None:
    credential, old = engine.create_credential("backend", [Scope.USERS_ACT])
    _, new = engine.rotate_credential(credential.id, timedelta(hours=1))
    assert engine.revoke_credential(credential.id) is True
    for secret in (old, new):
        with pytest.raises(Unauthenticated):
            engine.authenticate_service(secret)
    assert engine.revoke_credential(credential.id) is False
    assert engine.list_credentials()[0].revoked_at == engine.clock.now()
    with pytest.raises(CredentialNotFound):
        engine.rotate_credential(credential.id)
    with pytest.raises(CredentialNotFound):
        engine.revoke_credential("c_0000000000000000")


def test_a_credential_cannot_make_or_touch_one_above_itself(engine: Hushan) -> None:
    held = {Scope.ADMIN_WRITE}
    with pytest.raises(ScopeNotGrantable):
        engine.create_credential("more", [Scope.USERS_ACT], held)
    strong, _ = engine.create_credential("strong", [Scope.USERS_ACT, Scope.ADMIN_WRITE])
    with pytest.raises(ScopeNotGrantable):
        engine.rotate_credential(strong.id, granter=held)
    with pytest.raises(ScopeNotGrantable):
        engine.revoke_credential(strong.id, held)
    assert engine.list_credentials()[0].revoked_at is None


def test_tokens_expire_list_and_revoke(engine: Hushan) -> None:
    clock = _clock(engine)
    _, first = engine.create_user("alice")
    short, info = engine.mint_token("alice", timedelta(minutes=1), minted_by="c_1")
    assert info.expires_at == clock.now() + timedelta(minutes=1) and info.minted_by == "c_1"
    listed = engine.list_tokens("alice")
    expiries = {t.expires_at for t in listed}
    assert expiries == {info.expires_at, clock.now() + 30 * DAY}
    assert short not in _stored_text(engine, "tokens")
    clock.advance(timedelta(minutes=1))
    with pytest.raises(TokenExpired):
        engine.authenticate(short)
    assert engine.authenticate(first) == "alice"
    engine.revoke_token("alice", info.id)
    with pytest.raises(Unauthenticated):
        engine.authenticate(short)
    with pytest.raises(TokenNotFound):
        engine.revoke_token("alice", info.id)
    clock.advance(30 * DAY)
    with pytest.raises(TokenExpired):
        engine.authenticate(first)
    with pytest.raises(UserNotFound):
        engine.mint_token("ghost")
    with pytest.raises(InvalidTokenTtl):
        engine.mint_token("alice", 31 * DAY)


def test_last_use_is_recorded_at_most_once_a_minute(engine: Hushan) -> None:
    clock = _clock(engine)
    _, token = engine.create_user("alice")
    assert engine.list_tokens("alice")[0].last_used_at is None
    first = clock.now()
    engine.authenticate(token)
    clock.advance(timedelta(seconds=30))
    engine.authenticate(token)
    assert engine.list_tokens("alice")[0].last_used_at == first
    clock.advance(timedelta(seconds=30))
    engine.authenticate(token)
    assert engine.list_tokens("alice")[0].last_used_at == clock.now()


def test_revoking_all_but_the_current_token(engine: Hushan) -> None:
    _, kept = engine.create_user("alice")
    for _ in range(3):
        engine.mint_token("alice")
    engine.create_user("bob")
    current = engine.authenticate_token(kept)
    with pytest.raises(NoCurrentToken):
        engine.revoke_tokens("alice", None, keep_current=True)
    assert engine.revoke_tokens("alice", current.id, keep_current=True) == 3
    assert [t.id for t in engine.list_tokens("alice")] == [current.id]
    assert len(engine.list_tokens("bob")) == 1
    assert engine.revoke_tokens("alice", current.id) == 1
    assert engine.list_tokens("alice") == []


def test_audit_entries_carry_the_acting_credential(engine: Hushan) -> None:
    engine.create_user("alice")
    engine.create_user("bob", verification_required=False)
    with acting_with("c_00000000000000aa"):
        engine.send_request("alice", "bob")
    engine.delete_contact("bob", "alice")
    entries = engine.audit_log(0, 100)
    by_actor = {(e.actor, e.credential) for e in entries}
    assert ("alice", "c_00000000000000aa") in by_actor and ("bob", None) in by_actor
    assert {e.credential for e in entries if e.actor == "bob"} == {None}
