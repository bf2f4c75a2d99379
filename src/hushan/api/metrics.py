"""Prometheus metrics (`GET /metrics`, prometheus-client's text format).

- `hushan_http_requests_total{method,route,status}` and
  `hushan_http_request_duration_seconds{method,route}`: `route` is the path template
  (`/v1/users/{user_id}/contacts`), so ids never become labels; event streams and long-polls
  (`wait` > 0) are counted but left out of the latency histogram;
- `hushan_engine_operations_total{operation,outcome}` and
  `hushan_engine_operation_duration_seconds{operation}`: each engine call a request makes
  (`outcome` is `ok`, the refusal's error code, or `error`);
- `hushan_open_long_polls`, `hushan_open_event_streams`: connections held open now;
- `hushan_rate_limited_total{policy}`, `hushan_rate_limit_fallbacks_total`;
- `hushan_write_batch_size`: writes per commit, on SQLite (group commit; on PostgreSQL each
  write is its own commit and nothing is counted);
- read from the store at each scrape: `hushan_purge_backlog{stage}` (`key`: buffered histories
  whose `purge_at` has passed, key not yet destroyed; `rows`: key destroyed, rows not yet
  deleted), `hushan_purge_overdue_seconds` (how long past `purge_at` the oldest waits),
  `hushan_log_integration_lag` (audit entries not yet in the transparency log),
  `hushan_webhook_endpoints_disabled` (endpoints a run of failures or the operator disabled),
  `hushan_webhook_alerts_open` (endpoints the worker disabled that nobody has enabled since),
  and per linked platform over the last day `hushan_platform_events_emitted{platform}`,
  `hushan_platform_events_acknowledged{platform}`, `hushan_platform_sync_rate{platform}` (their
  ratio, left out while nothing was emitted) and `hushan_platform_ack_lag_p99_seconds{platform}`,
  beside `hushan_platform_sync_rate_comparison` (0.63, the source article's figure).

With `serve --workers N`, every API process writes its figures to files in one directory
(prometheus-client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, set by `serve`), and any
process's `/metrics` answers for all of them.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hushan.domain.errors import HushanError
from hushan.domain.platforms import ARTICLE_SYNC_RATE, SyncRate
from hushan.service import Hushan
from hushan.store.sqlite_writer import BATCH_BOUNDS

LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SYNC_WINDOW = timedelta(days=1)
ENGINE = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 10.0)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The metrics of one app. Each app has a registry of its own (tests build many apps in
    one process); in multiprocess mode the figures live in the shared directory instead."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hushan_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "hushan_http_request_duration_seconds",
            "Time from a request's arrival to the end of its reply (not streams or long-polls).",
            ["method", "route"],
            buckets=LATENCY,
            registry=r,
        )
        self.operations = Counter(
            "hushan_engine_operations",
            "Engine calls, by operation and outcome (ok, a refusal's code, or error).",
            ["operation", "outcome"],
            registry=r,
        )
        self.operation_latency = Histogram(
            "hushan_engine_operation_duration_seconds",
            "Time an engine call took.",
            ["operation"],
            buckets=ENGINE,
            registry=r,
        )
        mode: dict[str, Any] = {"multiprocess_mode": "livesum"}
        self.long_polls = Gauge(
            "hushan_open_long_polls", "Long-polls (wait > 0) open now.", registry=r, **mode
        )
        self.event_streams = Gauge(
            "hushan_open_event_streams", "Server-Sent Event streams open now.", registry=r, **mode
        )
        self.rate_limited = Counter(
            "hushan_rate_limited",
            "Requests refused with 429, by the policy that refused them.",
            ["policy"],
            registry=r,
        )
        self.write_batches = Histogram(
            "hushan_write_batch_size",
            "Writes per commit (SQLite's group commit: the writes that arrive together).",
            buckets=BATCH_BOUNDS,
            registry=r,
        )
        self.rate_limit_fallbacks = Counter(
            "hushan_rate_limit_fallbacks",
            "Times Redis could not be reached and a process limited in-process instead.",
            registry=r,
        )


class StoreCollector(Collector):
    """Figures read from the database at each scrape (one short read transaction)."""

    def __init__(self, engine: Hushan) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.engine.clock.now()
        with self.engine.store.read() as tx:
            keys, rows, oldest = tx.purge_backlog(now)
            lag = tx.log_integration_lag()
            disabled = tx.count_disabled_endpoints()
            alerts = tx.count_open_alerts()
        rates = self.engine.sync_rates(SYNC_WINDOW)
        backlog = GaugeMetricFamily(
            "hushan_purge_backlog",
            "Histories due for purge and not yet purged: key (buffered past purge_at) or rows.",
            labels=["stage"],
        )
        backlog.add_metric(["key"], keys)
        backlog.add_metric(["rows"], rows)
        yield backlog
        yield GaugeMetricFamily(
            "hushan_purge_overdue_seconds",
            "How long past its purge_at the oldest history still to purge is (0 when none).",
            value=0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )
        yield GaugeMetricFamily(
            "hushan_log_integration_lag",
            "Audit entries not yet integrated into the transparency log.",
            value=lag,
        )
        yield GaugeMetricFamily(
            "hushan_webhook_endpoints_disabled",
            "Webhook endpoints disabled (a run of failures, or the operator); they get nothing.",
            value=disabled,
        )
        yield GaugeMetricFamily(
            "hushan_webhook_alerts_open",
            "Endpoints the worker disabled after a run of failures, not enabled since: see"
            " GET /v1/admin/webhooks/alerts.",
            value=alerts,
        )
        yield from _platform_families(rates)


def _platform_families(rates: list[SyncRate]) -> Iterator[GaugeMetricFamily]:
    """Each linked platform's sync over the last day (the admin API's `sync`, any window)."""
    families = {
        name: GaugeMetricFamily(name, text, labels=["platform"])
        for name, text in (
            ("hushan_platform_events_emitted", "Events sent to the platform in the last day."),
            ("hushan_platform_events_acknowledged", "Of those, how many it acknowledged."),
            ("hushan_platform_sync_rate", "Acknowledged over emitted (none while none emitted)."),
            ("hushan_platform_ack_lag_p99_seconds", "p99 from a change to its acknowledgement."),
        )
    }
    yield GaugeMetricFamily(
        "hushan_platform_sync_rate_comparison",
        "The source article's figure for other platforms' sync with WeChat deletions (0.63),"
        " to compare hushan_platform_sync_rate with.",
        value=ARTICLE_SYNC_RATE,
    )
    for rate in rates:
        label = [rate.platform_id]
        families["hushan_platform_events_emitted"].add_metric(label, rate.emitted)
        families["hushan_platform_events_acknowledged"].add_metric(label, rate.acknowledged)
        if rate.rate is not None:
            families["hushan_platform_sync_rate"].add_metric(label, rate.rate)
        if rate.lag_p99_seconds is not None:
            families["hushan_platform_ack_lag_p99_seconds"].add_metric(label, rate.lag_p99_seconds)
    yield from families.values()


_depth = threading.local()


def instrument(engine: Hushan, metrics: Metrics) -> None:
    """Time and count every public engine method, on this engine object alone (handlers call
    `engine.x` and get the timed one). A method called from inside another counts once, as
    the outer one."""
    targets: list[tuple[Any, str, str]] = [
        (engine, name, name) for name, _ in inspect.getmembers(type(engine), inspect.isfunction)
    ]
    targets += [(engine.log, n, "log." + n) for n in ("certificate", "publish")]
    for owner, name, label in targets:
        if name.startswith("_"):
            continue
        method = getattr(owner, name)
        if inspect.isgeneratorfunction(method):
            continue
        setattr(owner, name, _timed(method, label, metrics))


def _timed(method: Callable[..., Any], label: str, metrics: Metrics) -> Callable[..., Any]:
    histogram = metrics.operation_latency.labels(label)
    ok = metrics.operations.labels(label, "ok")

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "n", 0)
        if depth:
            return method(*args, **kwargs)
        _depth.n = 1
        start = time.perf_counter()
        try:
            result = method(*args, **kwargs)
        except HushanError as error:
            metrics.operations.labels(label, error.code).inc()
            raise
        except BaseException:
            metrics.operations.labels(label, "error").inc()
            raise
        finally:
            _depth.n = 0
            histogram.observe(time.perf_counter() - start)
        ok.inc()
        return result

    return timed
