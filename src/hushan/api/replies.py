"""The one JSON reply class: pydantic-core's encoder, about four times faster than `json` here."""

from typing import Any

from fastapi.responses import JSONResponse
from pydantic_core import to_json


class JsonReply(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content)
