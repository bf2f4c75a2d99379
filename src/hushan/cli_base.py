"""What every `hushan` command shares: the console, the `--db` option, the engine for one
command, and the exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from hushan.bootstrap import build
from hushan.config import Settings
from hushan.crypto import KeyFileError
from hushan.domain.errors import HushanError
from hushan.service import Hushan

console = Console()

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="SQLite file (default: HUSHAN_DATABASE_URL or ./hushan.db)."),
]

# Exit codes, one table: 0 ok, 1 a refused or invalid call, 2 usage (Typer's own).
EXIT_DOMAIN_ERROR = 1


def settings_for(db: Path | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if db is not None:
        values["database_url"] = f"sqlite:///{db}"
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def key_files() -> Iterator[None]:
    """A missing, malformed or exposed key file is an operator error, not a traceback."""
    try:
        yield
    except KeyFileError as error:
        console.print(f"[red]error[/red] key_file: {error}")
        raise typer.Exit(EXIT_DOMAIN_ERROR) from None


@contextmanager
def engine_for(db: Path | None) -> Iterator[Hushan]:
    """The engine for one command, its connections closed when the command ends."""
    with key_files():
        engine = build(settings_for(db))
    try:
        yield engine
    finally:
        engine.store.close()


def fail(error: HushanError) -> typer.Exit:
    console.print(f"[red]error[/red] {error.code}: {error.message}")
    return typer.Exit(EXIT_DOMAIN_ERROR)


T = TypeVar("T")


def call_engine(db: Path | None, call: Callable[[Hushan], T]) -> T:
    """`call` on the engine of `db`; a refusal ends the command with its code."""
    try:
        with engine_for(db) as engine:
            return call(engine)
    except HushanError as error:
        raise fail(error) from None


def say(line: str) -> None:
    """A line as it is: no markup, no highlighting, never wrapped."""
    console.print(line, soft_wrap=True, markup=False, highlight=False)


def when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "-"
