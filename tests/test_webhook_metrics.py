"""What `/metrics` reads from the store about events out, on each backend: the count of
disabled webhook endpoints, and each linked platform's sync over the last day (emitted,
acknowledged, their ratio, the lag p99), as the admin API's sync rate has them."""

from __future__ import annotations

from datetime import timedelta

from hushan.api.metrics import StoreCollector
from hushan.delivery import Deliverer
from hushan.domain.platforms import AssetPolicy, PermissionPolicy
from hushan.service import Hushan
from tests.drive import befriend
from tests.receiver import Receiver


def figures(engine: Hushan) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in StoreCollector(engine).collect()
        for sample in family.samples
    }


def test_disabled_endpoints_and_each_platform_s_sync_rate(engine: Hushan) -> None:
    with Receiver().running() as receiver:
        synced, _ = engine.create_platform(
            "game", receiver.url, AssetPolicy.NONE, PermissionPolicy.KEEP
        )
        silent, _ = engine.create_platform(
            "shop", "http://127.0.0.1:9/x", AssetPolicy.NONE, PermissionPolicy.KEEP
        )
        found = figures(engine)
        assert found[("hushan_webhook_endpoints_disabled", ())] == 0
        assert found[("hushan_platform_events_emitted", (synced.id,))] == 0
        assert ("hushan_platform_sync_rate", (synced.id,)) not in found  # nothing emitted yet
        befriend(engine, "A", "B")
        engine.link_platform("A", synced.id)
        engine.link_platform("A", silent.id)
        engine.delete_contact("A", "B")
        sender = Deliverer(engine, timeout=1, batch=10, threads=2)
        try:
            while sender.run_once():
                pass
        finally:
            sender.close()
        engine.enable_endpoint(silent.endpoint_id, False)
        found = figures(engine)
    assert found[("hushan_webhook_endpoints_disabled", ())] == 1
    assert found[("hushan_platform_sync_rate_comparison", ())] == 0.63  # the article's
    assert found[("hushan_platform_events_emitted", (synced.id,))] >= 1
    assert (
        found[("hushan_platform_events_acknowledged", (synced.id,))]
        == found[("hushan_platform_events_emitted", (synced.id,))]
    )
    assert found[("hushan_platform_sync_rate", (synced.id,))] == 1.0
    assert found[("hushan_platform_ack_lag_p99_seconds", (synced.id,))] >= 0
    assert found[("hushan_platform_events_acknowledged", (silent.id,))] == 0
    assert found[("hushan_platform_sync_rate", (silent.id,))] == 0.0
    engine.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    assert figures(engine)[("hushan_platform_events_emitted", (synced.id,))] == 0  # the window
