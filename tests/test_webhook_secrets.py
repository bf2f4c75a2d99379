"""Webhook signing secrets at rest, on each backend: stored sealed under the deployment key and
bound to their endpoint (a database dump alone cannot sign), secrets stored plain by an older
version sealed at start, and deliveries still signed with the real secret."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidTag

from hushan.crypto import Sealer
from hushan.domain.platforms import AssetPolicy, PermissionPolicy
from hushan.service import Hushan
from hushan.service.webhooks import open_webhook_secret


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
