"""Which endpoint a request reaches: the API's commands are tried first (they are what comes
in under load), and that changes where no request goes, nor the API's document."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Match, Mount

from safepassage.server.app import API
from tests.server.conftest import Served


def _scope(path: str, method: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _first_full_match(routes: list[object], path: str, method: str) -> object:
    for route in routes:
        match, _ = route.matches(_scope(path, method))  # type: ignore[attr-defined]
        if match is Match.FULL:
            return route
    return None


def test_a_registration_is_routed_first(served: Served) -> None:
    first = served.app.routes[0]
    assert isinstance(first, APIRoute)
    assert (first.path, first.methods) == (f"{API}/registrations", {"POST"})


def test_every_endpoint_is_reached_by_its_own_path_and_method_in_either_order(
    served: Served,
) -> None:
    routes = list(served.app.routes)
    declared = [r for r in routes if not _command(r)]  # what the order was: commands after
    at = next(i for i, r in enumerate(declared) if isinstance(r, Mount))
    declared[at:at] = [r for r in routes if _command(r)]  # ... every API read, before /static
    checked = 0
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods:
            assert _first_full_match(routes, path, method) is route, (method, route.path)
            assert _first_full_match(declared, path, method) is route, (method, route.path)
            checked += 1
    assert checked > 60
    # a command's path with another method, and a page's POST, reach what they did
    for path, method in [(f"{API}/parties", "GET"), (f"{API}/registrations", "GET"),
                         ("/register", "POST"), ("/static/x.css", "POST")]:  # fmt: skip
        assert _first_full_match(routes, path, method) is _first_full_match(declared, path, method)


def test_the_document_keeps_the_declared_order_and_names_the_token_scheme(
    served: Served,
) -> None:
    document = served.client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An account's token: `Authorization: Bearer spt_…`",
        }
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = operation["x-roles"] == ["public"]
            assert operation.get("security") == (None if public else [{"HTTPBearer": []}]), (
                method,
                path,
            )
    paths = list(document["paths"])
    assert paths[0] == f"{API}/public/report"
    assert paths.index(f"{API}/persons") < paths.index(f"{API}/registrations")
    assert paths.index(f"{API}/registrations") < paths.index(f"{API}/boardings")


def _command(route: object) -> bool:
    return isinstance(route, APIRoute) and route.methods == {"POST"} and route.path.startswith(API)
