"""Query parameters an endpoint does not take are refused, never ignored.

An ignored parameter reads as obeyed: a client that still pages with a list's old `after` or
`before`, or misspells `limit`, would get the first page back and walk it forever, or believe a
filter applied. Each endpoint's names come from its own declaration (FastAPI's dependant,
sub-dependencies included), once per route.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from hushan.domain.errors import UnknownQueryParameter

# By the route's id (routes compare by value, so they are no dict keys), with the route itself
# to tell a route of a later app that got a collected one's id.
_known: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def refuse_unknown(request: Request) -> None:
    """A dependency of every route: `422 unknown_query_parameter` for a name it does not take."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    hit = _known.get(id(route))
    if hit is None or hit[0] is not route:
        hit = _known[id(route)] = (route, frozenset(_query_names(route.dependant)))
    known = hit[1]
    extra = set(request.query_params) - known
    if extra:
        raise UnknownQueryParameter.of(sorted(extra), sorted(known))
