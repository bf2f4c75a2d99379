"""The docs cover the surface: every CLI command, every error code and every HTTP operation is
documented, and the OpenAPI document describes each operation whole."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from hushan.api import limits, observe
from hushan.api.app import create_app
from hushan.api.errors import HTTP_ONLY_CODES
from hushan.cli import app
from hushan.domain.errors import all_error_classes
from hushan.service import Limits
from tests.conftest import fresh_engine

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


# ---- the HTTP API: docs/api.md against the OpenAPI document ---------------------------------
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROW = re.compile(r"^\| `(" + "|".join(METHODS) + r") (/[^` ?]*)[^`]*` \|")
INDEX = "## Every operation"


@pytest.fixture(scope="module")
def document(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    engine = fresh_engine(template_db, tmp_path_factory.mktemp("openapi"))
    return create_app(engine, "key").openapi()


def _documented(text: str) -> set[tuple[str, str]]:
    return {(m.group(1), m.group(2)) for line in text.splitlines() if (m := ROW.match(line))}


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_the_path_table_is_the_document(document: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    index = text[text.index(INDEX) : text.index("\n## ", text.index(INDEX) + 1)]
    operations = _operations(document)
    assert _documented(index) == set(operations)
    # The sections' own tables name the same paths, with the same parameter names.
    assert _documented(text) <= set(operations), _documented(text) - set(operations)
    for line in index.splitlines():
        if match := ROW.match(line):
            operation_id = operations[(match.group(1), match.group(2))]["operationId"]
            assert f"`{operation_id}`" in line, line


def test_every_operation_is_described_whole(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    error = {"$ref": "#/components/schemas/ErrorReply"}
    ids = []
    for (method, path), operation in _operations(document).items():
        where = f"{method} {path}"
        ids.append(operation["operationId"])
        assert re.fullmatch(r"[a-z_]+", operation["operationId"]), where
        assert len(operation["tags"]) >= 1, where
        responses = operation["responses"]
        successes = [s for s in responses if s.startswith("2")]
        assert successes, where
        for status in successes:
            content = responses[status]["content"]
            assert all(media.get("schema") or media.get("itemSchema") for media in content.values())
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"] == {"application/json": {"schema": error}}, where
        expected = {"429"} if path not in limits.UNLIMITED else set()
        if operation.get("security"):
            expected |= {"401"}
        if "requestBody" in operation:
            expected |= {"400", "413", "422"}
        if operation.get("parameters"):
            expected |= {"422"}
        assert expected <= set(responses), (where, expected - set(responses))
    assert len(ids) == len(set(ids))


def test_the_schema_refuses_what_the_server_refuses(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    name = schemas["CreateGroup"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 64)
    for good in ("family", "同事", "a b"):
        assert re.fullmatch(name["pattern"], good)
    for bad in ("", " padded", "padded ", "tab\there", "nul\x00", "\xa0x"):
        assert not re.fullmatch(name["pattern"], bad), bad
    body = schemas["SendMessage"]["properties"]["body"]
    assert not re.fullmatch(body["pattern"], " \t ")
    assert body["maxLength"] == Limits().max_message_chars
    user = schemas["SendMessage"]["properties"]["to"]
    assert re.fullmatch(user["pattern"], "a" * 64) and not re.fullmatch(user["pattern"], "a" * 65)
    assert set(document["components"]["securitySchemes"]) == {
        "userToken",
        "adminKey",
        "serviceCredential",
        "metricsToken",
    }
    ttl = schemas["MintToken"]["properties"]["ttl_seconds"]["anyOf"]
    integer = next(option for option in ttl if option.get("type") == "integer")
    assert (integer["minimum"], integer["maximum"]) == (60, int(Limits().token_ttl_seconds))
