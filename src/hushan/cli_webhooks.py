"""`hushan webhooks ...` and `hushan platforms ...`: endpoints, deliveries and linked platforms,
over the same engine calls as the admin API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from hushan.cli_base import DbOption, console, engine_for, fail, say, when
from hushan.domain.errors import HushanError
from hushan.domain.platforms import ARTICLE_SYNC_RATE, AssetPolicy, PermissionPolicy
from hushan.domain.webhooks import Alert, Delivery, DeliveryState, Endpoint

webhooks_app = typer.Typer(
    help="Webhooks: endpoints, deliveries, replays (docs/webhooks.md).", no_args_is_help=True
)
EndpointArg = Annotated[str, typer.Argument(help="The endpoint's id (we_...).")]
MAX_OVERLAP_SECONDS = 30 * 86400


def _endpoint_line(e: Endpoint) -> str:
    state = f"disabled={when(e.disabled_at)} ({e.disabled_reason})" if e.disabled_at else "enabled"
    return (
        f"{e.id}  {e.url}  types={','.join(sorted(e.event_types))}  {state}"
        f"  failure_run={e.failure_run}"
    )


def _delivery_line(d: Delivery) -> str:
    return (
        f"{d.id}  {d.endpoint_id}  evt_{d.seq}  {d.state.value}  attempts={d.attempts}"
        f"  last_status={d.last_status if d.last_status is not None else '-'}"
        f"  last_error={d.last_error or '-'}  next={when(d.next_at)}  done={when(d.done_at)}"
    )


def _alert_line(a: Alert) -> str:
    state = f"closed={when(a.closed_at)}" if a.closed_at else "OPEN"
    return (
        f"{a.id}  {a.endpoint_id}  disabled={when(a.at)}  {a.reason}"
        f"  last_status={a.last_status if a.last_status is not None else '-'}"
        f"  last_error={a.last_error or '-'}  {state}"
    )


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Absolute http or https URL.")],
    event: Annotated[
        list[str], typer.Option("--event", help="An event type to get; repeat for more.")
    ],
    db: DbOption = None,
) -> None:
    """Register an endpoint and print its id and its whsec_ secret."""
    try:
        with engine_for(db) as engine:
            endpoint, secret = engine.create_endpoint(url, event)
    except HushanError as error:
        raise fail(error) from None
    say(f"created {endpoint.id}; secret: {secret}")


@webhooks_app.command("list")
def webhooks_list(db: DbOption = None) -> None:
    """Every endpoint, one line each, a disabled one with when and why."""
    with engine_for(db) as engine:
        found = engine.list_endpoints()
    for endpoint in found:
        say(_endpoint_line(endpoint))


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: EndpointArg, db: DbOption = None) -> None:
    """Remove an endpoint, with its secrets and deliveries."""
    try:
        with engine_for(db) as engine:
            engine.delete_endpoint(endpoint_id)
    except HushanError as error:
        raise fail(error) from None
    say(f"removed {endpoint_id}")


@webhooks_app.command("enable")
def webhooks_enable(
    endpoint_id: EndpointArg,
    off: Annotated[bool, typer.Option("--off", help="Disable it instead.")] = False,
    db: DbOption = None,
) -> None:
    """Enable an endpoint again (its waiting deliveries resume), or disable it with --off."""
    try:
        with engine_for(db) as engine:
            endpoint = engine.enable_endpoint(endpoint_id, not off)
    except HushanError as error:
        raise fail(error) from None
    say(_endpoint_line(endpoint))


@webhooks_app.command("rotate")
def webhooks_rotate(
    endpoint_id: EndpointArg,
    overlap: Annotated[
        int,
        typer.Option(help="Seconds the secrets before still sign.", min=0, max=MAX_OVERLAP_SECONDS),
    ] = 86400,
    db: DbOption = None,
) -> None:
    """Give an endpoint a new secret (printed); the ones before sign `--overlap` longer."""
    try:
        with engine_for(db) as engine:
            secret = engine.rotate_endpoint_secret(endpoint_id, timedelta(seconds=overlap))
    except HushanError as error:
        raise fail(error) from None
    say(f"rotated {endpoint_id}; new secret: {secret}")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: Annotated[str | None, typer.Option("--endpoint", help="One endpoint's.")] = None,
    state: Annotated[DeliveryState | None, typer.Option(help="Only in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    db: DbOption = None,
) -> None:
    """Deliveries, the newest first: state, attempts, last status or error, next attempt."""
    with engine_for(db) as engine:
        found = engine.list_deliveries(endpoint_id, state, limit=limit)
    for delivery in found:
        say(_delivery_line(delivery))


@webhooks_app.command("alerts")
def webhooks_alerts(
    open_only: Annotated[
        bool, typer.Option("--open", help="Only endpoints not enabled again since.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    db: DbOption = None,
) -> None:
    """Endpoints the worker disabled after a run of failures, the newest first."""
    with engine_for(db) as engine:
        found = engine.list_webhook_alerts(open_only, limit=limit)
    for alert in found:
        say(_alert_line(alert))
    if open_only and found:
        say("enable each again with `hushan webhooks enable ID` once its receiver is fixed")


@webhooks_app.command("replay")
def webhooks_replay(
    delivery_id: Annotated[
        int | None, typer.Argument(help="One delivery's id; or give --since.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="Every delivery failed for good since this UTC time instead."),
    ] = None,
    endpoint_id: Annotated[str | None, typer.Option("--endpoint", help="With --since.")] = None,
    db: DbOption = None,
) -> None:
    """Send one delivery again at once, or every one that failed since a time."""
    if (delivery_id is None) == (since is None):
        console.print("[red]error[/red] give a delivery id, or --since, not both")
        raise typer.Exit(2)
    try:
        with engine_for(db) as engine:
            if delivery_id is not None:
                engine.replay_delivery(delivery_id)
                count = 1
            else:
                assert since is not None
                moment = since if since.tzinfo else since.replace(tzinfo=UTC)
                count = engine.replay_failures(moment, endpoint_id)
    except HushanError as error:
        raise fail(error) from None
    say(f"replayed {count}")


platforms_app = typer.Typer(
    help="Linked platforms: register, link, sync rate (docs/api.md).", no_args_is_help=True
)
PlatformArg = Annotated[str, typer.Argument(help="The platform's id (pf_...).")]


@platforms_app.command("add")
def platforms_add(
    name: Annotated[str, typer.Argument(help="A name for people, e.g. the game's.")],
    url: Annotated[str, typer.Argument(help="Its webhook endpoint: absolute http(s) URL.")],
    assets: Annotated[AssetPolicy, typer.Option(help="Linked assets on removal.")],
    permissions: Annotated[PermissionPolicy, typer.Option(help="API permissions on removal.")],
    db: DbOption = None,
) -> None:
    """Register a platform with an endpoint of its own; print its id and its whsec_ secret."""
    try:
        with engine_for(db) as engine:
            platform, secret = engine.create_platform(name, url, assets, permissions)
    except HushanError as error:
        raise fail(error) from None
    say(f"created {platform.id} (endpoint {platform.endpoint_id}); secret: {secret}")


@platforms_app.command("list")
def platforms_list(db: DbOption = None) -> None:
    """Every platform: id, name, endpoint, asset and permission policies."""
    with engine_for(db) as engine:
        found = engine.list_platforms()
    for p in found:
        say(
            f"{p.id}  {p.name!r}  endpoint={p.endpoint_id}  assets={p.asset_policy.value}"
            f"  permissions={p.permission_policy.value}"
        )


@platforms_app.command("link")
def platforms_link(
    user_id: Annotated[str, typer.Argument(help="The user who links it.")],
    platform_id: PlatformArg,
    off: Annotated[bool, typer.Option("--off", help="Unlink instead.")] = False,
    db: DbOption = None,
) -> None:
    """Link a platform for a user (it gets their events from now on), or unlink it with --off."""
    try:
        with engine_for(db) as engine:
            changed = engine.link_platform(user_id, platform_id, not off)
    except HushanError as error:
        raise fail(error) from None
    word = "unlinked" if off else "linked"
    say(f"{word} {platform_id} for {user_id}" if changed else f"already {word}")


@platforms_app.command("sync")
def platforms_sync(
    platform_id: PlatformArg,
    window: Annotated[int, typer.Option(min=1, max=365 * 86400, help="Seconds back.")] = 86400,
    db: DbOption = None,
) -> None:
    """The platform's sync rate: acknowledged over emitted events in the window, lag p50/p99."""
    try:
        with engine_for(db) as engine:
            rate = engine.sync_rate(platform_id, timedelta(seconds=window))
    except HushanError as error:
        raise fail(error) from None
    shown = "-" if rate.rate is None else f"{rate.rate:.1%}"
    say(
        f"{platform_id}  sync={shown}  acknowledged={rate.acknowledged}  emitted={rate.emitted}"
        f"  lag_p50={rate.lag_p50_seconds}s  lag_p99={rate.lag_p99_seconds}s"
        f"  (compare: {ARTICLE_SYNC_RATE:.0%}, the article's figure for others' sync with WeChat)"
    )


@platforms_app.command("cases")
def platforms_cases(
    platform_id: PlatformArg,
    user_id: Annotated[str | None, typer.Option("--user", help="One user's only.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only those not done.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    db: DbOption = None,
) -> None:
    """The platform's cases of assets to unbind by hand, the newest first."""
    try:
        with engine_for(db) as engine:
            found = engine.list_unbind_cases(platform_id, user_id, open_only, limit=limit)
    except HushanError as error:
        raise fail(error) from None
    for c in found:
        state = f"done={when(c.done_at)}" if c.done_at else "OPEN"
        say(
            f"{c.id}  {c.user_id}  evt_{c.seq}  {c.event_type.value}"
            f"  opened={when(c.opened_at)}  {state}"
        )


@platforms_app.command("done")
def platforms_done(
    platform_id: PlatformArg,
    case_id: Annotated[int, typer.Argument(help="The case's id.", min=1)],
    db: DbOption = None,
) -> None:
    """The platform says the user's assets are unbound: the case closes."""
    try:
        with engine_for(db) as engine:
            closed = engine.unbind_case_done(platform_id, case_id)
    except HushanError as error:
        raise fail(error) from None
    say(f"case {case_id} done" if closed else f"case {case_id} was already done")
