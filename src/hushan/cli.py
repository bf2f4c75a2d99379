"""The `hushan` command: a thin skin over the same service functions the API calls."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hushan.bootstrap import admin_key, build
from hushan.clock import OffsetClock
from hushan.config import Settings
from hushan.crypto import KeyFileError
from hushan.domain.errors import HushanError
from hushan.service import Hushan

app = typer.Typer(
    help="hushan (互删): friend relationships with one-way, mutual and block-then-delete.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
console = Console()

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="SQLite file (default: HUSHAN_DATABASE_URL or ./hushan.db)."),
]

# Exit codes, one table: 0 ok, 1 a refused or invalid call, 2 usage (Typer's own).
EXIT_DOMAIN_ERROR = 1


def _settings(db: Path | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if db is not None:
        values["database_url"] = f"sqlite:///{db}"
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def _key_files() -> Iterator[None]:
    """A missing, malformed or exposed key file is an operator error, not a traceback."""
    try:
        yield
    except KeyFileError as error:
        console.print(f"[red]error[/red] key_file: {error}")
        raise typer.Exit(EXIT_DOMAIN_ERROR) from None


def _engine(db: Path | None) -> Hushan:
    with _key_files():
        return build(_settings(db))


def _fail(error: HushanError) -> typer.Exit:
    console.print(f"[red]error[/red] {error.code}: {error.message}")
    return typer.Exit(EXIT_DOMAIN_ERROR)


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    test_clock: Annotated[
        bool, typer.Option("--test-clock", help="Let the admin move time forward (tests only).")
    ] = False,
) -> None:
    """Run the HTTP API with the purge sweep in-process."""
    import uvicorn

    from hushan.api.app import create_app

    settings = _settings(db, test_clock=True if test_clock else None)
    clock = OffsetClock() if settings.test_clock else None
    with _key_files():
        engine = build(settings, clock)
        key = admin_key(settings)
    source = "HUSHAN_ADMIN_KEY" if settings.admin_key else str(settings.resolved_admin_key_file())
    console.print(f"hushan on http://{host}:{port}  database {settings.sqlite_path}")
    console.print(f"admin key: {source}   OpenAPI: /openapi.json")
    if clock:
        console.print("[yellow]test clock enabled[/yellow]: POST /v1/admin/clock/advance")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    api = create_app(engine, key, clock, settings.sweep_interval_seconds)
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)


@user_app.command("create")
def user_create(
    user_id: Annotated[str, typer.Argument(help="The stable id the app chose.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
    no_verification: Annotated[
        bool, typer.Option("--no-verification", help="Accept friend requests without asking.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Create a user and print their bearer token (shown once)."""
    try:
        user, token = _engine(db).create_user(user_id, name, not no_verification)
    except HushanError as error:
        raise _fail(error) from None
    console.print(f"created [bold]{user.id}[/bold]; token: {token}")


@app.command()
def pair(
    a: Annotated[str, typer.Argument(help="First user id.")],
    b: Annotated[str, typer.Argument(help="Second user id.")],
    db: DbOption = None,
) -> None:
    """Inspect a pair: both edges, blocks, history state and purge time."""
    try:
        found = _engine(db).inspect_pair(a, b)
    except HushanError as error:
        raise _fail(error) from None
    status, conversation = found.status, found.conversation
    table = Table(title=f"pair {a} / {b}", show_header=False)
    table.add_row("relation", status.relation.value)
    table.add_row(f"{a} blocks {b}", str(status.a_blocks_b))
    table.add_row(f"{b} blocks {a}", str(status.b_blocks_a))
    table.add_row("history", status.history_state.value if status.history_state else "none")
    table.add_row("purge at", str(status.purge_at or "-"))
    table.add_row("block-deleted", str(status.block_deleted))
    if conversation:
        table.add_row("data key", "present" if found.key_present else "destroyed")
        table.add_row("rows purged at", str(conversation.rows_purged_at or "-"))
    console.print(table)


@app.command()
def purge(db: DbOption = None) -> None:
    """Run one purge sweep now: expire requests, destroy due keys, delete purged rows."""
    engine = _engine(db)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("sweeping", total=None)
        report = engine.purger.sweep(
            lambda step, done: progress.update(task, description=f"{step}: {done}")
        )
    console.print(
        f"requests expired {report.requests_expired}, keys destroyed {report.keys_destroyed}, "
        f"rows deleted {report.rows_deleted}, conversations finished "
        f"{report.conversations_finished}"
    )


@app.command()
def demo() -> None:
    """Walk through the three ways to part on a throwaway database, showing both sides."""
    from hushan.demo import run

    run(console)


if __name__ == "__main__":
    app()
