"""The docs cover the surface: every CLI command and every error code is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main

from hushan.api import limits, observe
from hushan.api.errors import HTTP_ONLY_CODES
from hushan.cli import app
from hushan.domain.errors import all_error_classes

ROOT = Path(__file__).resolve().parent.parent
ABSTRACT = {
    "error",
    "not_found",
    "invalid_input",
    "refused",
    "conflict",
    "auth_error",
    "unavailable",
}


def _commands() -> list[tuple[str, Any]]:
    """(name, click command) for every leaf command, walking groups by their `commands`."""
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, command: Any) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found.append((prefix, command))

    walk("", typer.main.get_command(app))
    return found


def error_codes() -> list[str]:
    codes = {cls.code for cls in all_error_classes()} - ABSTRACT
    return sorted(codes | set(HTTP_ONLY_CODES) | set(limits.CODES) | set(observe.CODES))


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda v: str(v))
def test_cli_command_documented(name: str, command: Any) -> None:
    assert command.help, f"hushan {name} has no help text"
    assert f"## `hushan {name}" in (ROOT / "docs" / "cli.md").read_text()


def test_every_cli_command_is_found() -> None:
    assert {name for name, _ in _commands()} >= {"serve", "user create", "pair", "purge", "demo"}


@pytest.mark.parametrize("code", error_codes())
def test_error_code_documented(code: str) -> None:
    for doc in (ROOT / "README.md", ROOT / "docs" / "api.md"):
        assert f"`{code}`" in doc.read_text(), f"{code} missing from {doc.name}"
