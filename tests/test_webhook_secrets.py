"""Webhook signing secrets and mini-programs' keys at rest, on each backend: stored sealed under
the deployment key and bound to their endpoint or app (a database dump alone cannot sign, nor
compute anyone's ids), those stored plain by an older version sealed at start, and deliveries
still signed with the real secret, ids still the key's."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidTag

from hushan.crypto import Sealer
from hushan.domain.miniprograms import open_id, pair_id
from hushan.domain.platforms import AssetPolicy, PermissionPolicy
from hushan.service import Hushan
from hushan.service.miniprograms import open_app_key
from hushan.service.webhooks import open_webhook_secret
from tests.drive import befriend


def stored(engine: Hushan) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in engine.store.dump_rows("webhook_secrets"):
        secret, endpoint_id = row[0], row[1]
        found.setdefault(endpoint_id, []).append(secret)
    return found


def test_the_stored_column_is_not_the_secret(engine: Hushan) -> None:
    endpoint, secret = engine.create_endpoint("http://127.0.0.1:9/hook", ["contact.removed"])
    platform, platform_secret = engine.create_platform(
        "game", "http://127.0.0.1:9/p", AssetPolicy.NONE, PermissionPolicy.KEEP
    )
    app, app_secret = engine.create_mini_program("games", "http://127.0.0.1:9/m")
    rotated = engine.rotate_endpoint_secret(endpoint.id, timedelta(hours=1))
    kept = stored(engine)
    pairs = [
        (endpoint.id, secret),
        (endpoint.id, rotated),
        (platform.endpoint_id, platform_secret),
        (app.endpoint_id, app_secret),
    ]
    for endpoint_id, plain in pairs:
        assert plain is not None and endpoint_id is not None
        key = plain.removeprefix("whsec_")
        assert all(
            key not in value and not value.startswith("whsec_") for value in kept[endpoint_id]
        )
        assert plain in engine.endpoint_secrets(endpoint_id)
    assert engine.endpoint_secrets(endpoint.id) == [rotated, secret]
    # Under another deployment key, or moved to another endpoint, a stored value opens nothing.
    value = kept[platform.endpoint_id][0]
    with pytest.raises(InvalidTag):
        open_webhook_secret(Sealer(os.urandom(32)), platform.endpoint_id, value)
    with pytest.raises(InvalidTag):
        open_webhook_secret(engine.sealer, endpoint.id, value)


def test_a_secret_stored_plain_is_sealed_at_start(engine: Hushan) -> None:
    endpoint, secret = engine.create_endpoint("http://127.0.0.1:9/hook", ["contact.removed"])
    (sealed,) = stored(engine)[endpoint.id]
    with engine.store.write() as tx:  # as a database from before 0018 holds it
        tx.replace_webhook_secret(sealed, secret)
    assert stored(engine)[endpoint.id] == [secret]
    assert engine.endpoint_secrets(endpoint.id) == [secret]  # read as it is meanwhile
    assert engine.seal_plain_webhook_secrets() == 1
    assert engine.seal_plain_webhook_secrets() == 0
    (now,) = stored(engine)[endpoint.id]
    assert now != secret and secret.removeprefix("whsec_") not in now
    assert engine.endpoint_secrets(endpoint.id) == [secret]


def stored_app_key(engine: Hushan, app_id: str) -> str:
    with engine.store.read() as tx:
        found = tx.mini_program(app_id)
    assert found is not None
    return found[1]


def test_a_mini_program_s_key_is_sealed_at_rest_and_its_ids_still_resolve(
    engine: Hushan,
) -> None:
    befriend(engine, "A", "B")
    app, _ = engine.create_mini_program("games")
    other, _ = engine.create_mini_program("shop")
    value = stored_app_key(engine, app.id)
    key = open_app_key(engine.sealer, app.id, value)
    assert value.startswith("sealed:") and key.hex() not in value and len(key) == 32
    assert [row for row in engine.store.dump_rows("mini_programs") if key.hex() in str(row)] == []
    # The ids are the key's, as before: the OpenID, and a pair id that resolves.
    assert engine.open_id(app.id, "A") == open_id(key, "A")
    granted = engine.grant_friend(app.id, "A", "B")
    assert granted == pair_id(key, "A", "B", 0)
    assert engine.resolve_pair_id(app.id, granted) == open_id(key, "A")
    # Under another deployment key, or moved to another app, the stored value opens nothing.
    with pytest.raises(InvalidTag):
        open_app_key(Sealer(os.urandom(32)), app.id, value)
    with pytest.raises(InvalidTag):
        open_app_key(engine.sealer, other.id, value)
    # A rotation seals the new key too.
    engine.rotate_mini_program_secret(app.id)
    rotated = stored_app_key(engine, app.id)
    assert rotated.startswith("sealed:") and rotated != value
    assert engine.open_id(app.id, "A") == open_id(open_app_key(engine.sealer, app.id, rotated), "A")


def test_a_mini_program_key_stored_plain_is_sealed_at_start(engine: Hushan) -> None:
    befriend(engine, "A", "B")
    app, _ = engine.create_mini_program("games")
    sealed = stored_app_key(engine, app.id)
    plain = open_app_key(engine.sealer, app.id, sealed).hex()
    with engine.store.write() as tx:  # as a database from before 0019 holds it
        tx.replace_mini_program_secret(app.id, sealed, plain)
    assert stored_app_key(engine, app.id) == plain
    own = engine.open_id(app.id, "A")  # read as it is meanwhile
    granted = engine.grant_friend(app.id, "A", "B")
    assert engine.seal_plain_mini_program_keys() == 1
    assert engine.seal_plain_mini_program_keys() == 0
    now = stored_app_key(engine, app.id)
    assert now.startswith("sealed:") and plain not in now
    assert engine.open_id(app.id, "A") == own  # the same key: the same ids, grants kept
    assert engine.resolve_pair_id(app.id, granted) == own
