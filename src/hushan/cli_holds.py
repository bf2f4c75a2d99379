"""`hushan hold ...`: legal holds, over the same engine calls as the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from hushan.cli_base import DbOption, engine_for, fail, say, when
from hushan.domain.errors import HushanError
from hushan.domain.holds import LegalHold

holds_app = typer.Typer(
    help="Legal holds: keep histories from purge for a case (docs/api.md).", no_args_is_help=True
)
HoldArg = Annotated[str, typer.Argument(help="The hold's id (lh_...).")]


def _hold_line(h: LegalHold) -> str:
    named = h.user if h.other is None else f"{h.user},{h.other}"
    ended = "live" if h.ended_how is None else f"{h.ended_how.value}={when(h.ended_at)}"
    return (
        f"{h.id}  {h.scope.value}={named}  case={h.case_ref}  placed={when(h.placed_at)}"
        f"  expires={when(h.expires_at)}  {ended}  reason={h.reason}"
    )


@holds_app.command("place")
def hold_place(
    user: Annotated[str, typer.Argument(help="The user held, or the pair's first user.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (1-500 characters).")],
    case: Annotated[str, typer.Option("--case", help="The case reference.")],
    other: Annotated[
        str | None, typer.Option("--other", help="The pair's second user: a hold on a pair.")
    ] = None,
    expires: Annotated[
        datetime | None,
        typer.Option(
            "--expires",
            help="When it ends by itself, ISO 8601 with a UTC offset (default: until released).",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"],
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Place a hold on a user, or on a pair (--other): the histories it covers are kept,
    encrypted, past any purge until it is released or expires."""
    try:
        with engine_for(db) as engine:
            hold = engine.place_hold(user, other, reason, case, expires)
    except HushanError as error:
        raise fail(error) from None
    say(f"placed {_hold_line(hold)}")


@holds_app.command("list")
def hold_list(
    live: Annotated[bool, typer.Option("--live", help="Only the holds in force.")] = False,
    db: DbOption = None,
) -> None:
    """Every hold, in the order placed, one line each."""
    with engine_for(db) as engine:
        found = engine.list_holds(live_only=live)
    for hold in found:
        say(_hold_line(hold))


@holds_app.command("release")
def hold_release(hold_id: HoldArg, db: DbOption = None) -> None:
    """Release a hold: what it alone kept is purged by the next sweep, where due."""
    try:
        with engine_for(db) as engine:
            hold = engine.release_hold(hold_id)
    except HushanError as error:
        raise fail(error) from None
    say(f"released {_hold_line(hold)}")
