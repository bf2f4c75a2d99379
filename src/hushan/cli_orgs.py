"""`hushan orgs ...`: the deployment creates organisations and binds their administrators and
members, over the same engine calls as the admin API (docs/api.md, "Organisations")."""

from __future__ import annotations

from typing import Annotated

import typer

from hushan.cli_base import DbOption, call_engine, say
from hushan.clock import iso_utc
from hushan.domain.orgs import AdminRole

orgs_app = typer.Typer(
    help="Organisations: administrators, members (docs/api.md).", no_args_is_help=True
)
OrgArg = Annotated[str, typer.Argument(help="The organisation's id.")]
UserArg = Annotated[str, typer.Argument(help="The user's id (their personal account).")]


@orgs_app.command("create")
def create(
    org_id: OrgArg,
    name: Annotated[str, typer.Argument(help="A name for people.")],
    admin: Annotated[str, typer.Argument(help="Its first administrator.")],
    db: DbOption = None,
) -> None:
    """Create an organisation with its first administrator."""
    call_engine(db, lambda engine: engine.create_org(org_id, name, admin))
    say(f"created {org_id}, run by {admin}")


@orgs_app.command("admin")
def admin(
    org_id: OrgArg,
    user_id: UserArg,
    role: Annotated[
        AdminRole, typer.Option(help="admin, or escalation: who decides escalated approvals.")
    ] = AdminRole.ADMIN,
    db: DbOption = None,
) -> None:
    """Bind an administrator of the organisation in a role (or change their role)."""
    changed = call_engine(db, lambda engine: engine.set_org_admin(org_id, user_id, role))
    say(f"{user_id}: {role.value} of {org_id}" + ("" if changed else " (already)"))


@orgs_app.command("member")
def member(
    org_id: OrgArg,
    user_id: UserArg,
    work_id: Annotated[str, typer.Argument(help="Their work identity, unique in it.")],
    db: DbOption = None,
) -> None:
    """Link a user's personal account to a work identity in the organisation."""
    added = call_engine(db, lambda engine: engine.add_org_member(org_id, user_id, work_id))
    say(f"{user_id}: {work_id} in {org_id}" + ("" if added else " (already a member)"))


@orgs_app.command("approvals")
def approvals(
    org_id: OrgArg,
    every: Annotated[
        bool, typer.Option("--all", help="Decided approvals too, not only the open ones.")
    ] = False,
    db: DbOption = None,
) -> None:
    """The organisation's enterprise link approvals, oldest first, one line each."""
    found = call_engine(db, lambda engine: engine.deployment_approvals(org_id, open_only=not every))
    for a in found:
        decided = "" if a.decided_at is None else f"  decided={iso_utc(a.decided_at)}"
        by = "" if a.decided_at is None else f"  by={a.decided_by or 'deadline'}"
        say(
            f"{a.id}  {a.state.value}  {a.user_a},{a.user_b}  opened={iso_utc(a.opened_at)}"
            f"  due={iso_utc(a.due_at)}{decided}{by}"
        )


@orgs_app.command("member-remove")
def member_remove(org_id: OrgArg, user_id: UserArg, db: DbOption = None) -> None:
    """Unlink a user's personal account from the organisation (refused while a handover of
    theirs, or one naming them successor, is under way)."""
    removed = call_engine(db, lambda engine: engine.remove_org_member(org_id, user_id))
    say(f"{user_id}: removed from {org_id}" if removed else f"{user_id}: not a member of {org_id}")
