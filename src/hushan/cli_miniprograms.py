"""`hushan miniprograms ...`: register a mini-program, a user's authorisation and grants, and
resolving a pair-scoped id, over the same engine calls as the API (docs/api.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from hushan.cli_base import DbOption, call_engine, say

miniprograms_app = typer.Typer(
    help="Mini-programs: OpenIDs, grants, revocation (docs/api.md).", no_args_is_help=True
)
AppArg = Annotated[str, typer.Argument(help="The mini-program's id (mp_...).")]
UserArg = Annotated[str, typer.Argument(help="The user's id.")]


@miniprograms_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for people.")],
    url: Annotated[str, typer.Argument(help="Its webhook endpoint (grant.revoked): http(s) URL.")],
    db: DbOption = None,
) -> None:
    """Register a mini-program with a webhook endpoint for its grant.revoked events; print its
    id, its endpoint's id and the endpoint's whsec_ secret."""
    app, secret = call_engine(db, lambda engine: engine.create_mini_program(name, url))
    say(f"created {app.id} (endpoint {app.endpoint_id}); secret: {secret}")


@miniprograms_app.command("rotate")
def rotate(app_id: AppArg, db: DbOption = None) -> None:
    """A new key for the app's ids: every id it saw changes and its grants are dropped."""
    call_engine(db, lambda engine: engine.rotate_mini_program_secret(app_id))
    say(f"rotated {app_id}")


@miniprograms_app.command("authorise")
def authorise(user_id: UserArg, app_id: AppArg, db: DbOption = None) -> None:
    """The user authorises the app: print the OpenID it sees them by."""
    say(call_engine(db, lambda engine: engine.open_id(app_id, user_id)))


@miniprograms_app.command("grant")
def grant(
    user_id: UserArg,
    app_id: AppArg,
    friend_id: Annotated[str, typer.Argument(help="The contact the app may see.")],
    db: DbOption = None,
) -> None:
    """The user lets the app see a contact: print the pair-scoped id it sees them by."""
    say(call_engine(db, lambda engine: engine.grant_friend(app_id, user_id, friend_id)))


@miniprograms_app.command("resolve")
def resolve(
    app_id: AppArg,
    pair_id: Annotated[str, typer.Argument(help="A pair-scoped id the app was given.")],
    db: DbOption = None,
) -> None:
    """Print the OpenID of the user who granted the pair id; authorization_required once the
    grant was revoked."""
    say(call_engine(db, lambda engine: engine.resolve_pair_id(app_id, pair_id)))
