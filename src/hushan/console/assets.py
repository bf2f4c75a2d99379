"""The console's static files (its stylesheet, its scripts, its icon), read from the package
once and served from memory: a page's first load waits for no file system or thread, and
each file's URL carries its content's hash, so a browser may keep it as long as it likes and
still never runs an old script after an upgrade."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

PATH = "/console/static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
YEAR = 365 * 86400


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    version: str  # the first hex digits of the body's SHA-256

    @property
    def headers(self) -> dict[str, str]:
        return {
            "cache-control": f"public, max-age={YEAR}, immutable",
            "etag": f'"{self.version}"',
            "x-content-type-options": "nosniff",
        }


def load() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in resources.files("hushan.console").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if suffix in TYPES:
            body = entry.read_bytes()
            found[entry.name] = Asset(body, TYPES[suffix], hashlib.sha256(body).hexdigest()[:12])
    return found


def router(assets: dict[str, Asset]) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get(PATH + "/{name}")
    async def asset(name: str, v: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        found = assets.get(name)
        if found is None:
            return Response(status_code=404)
        return Response(found.body, media_type=found.media_type, headers=found.headers)

    return api


def url(assets: dict[str, Asset], name: str) -> str:
    """The file's URL with its version, for a page to link to."""
    return f"{PATH}/{name}?v={assets[name].version}"
