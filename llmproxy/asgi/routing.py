"""The route table: which path and method go to which chain, in which dialect.

Exact paths are a dict lookup; the few prefix routes (Gemini's
``/v1/v1beta/models/...:generateContent`` style paths) are tried in order after.
A path that exists with another method is a 405 naming the allowed ones, not a
404, so a client that GETs a POST route learns what it did wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..chain import Handler, Step
from ..chain.auth import Auth
from ..errors import MethodNotAllowed, NotFound
from .families import Family

__all__ = ["Route", "Router", "family_for_path"]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One entry of the route table.

    Attributes:
        name: A stable name for logs (``code.messages``).
        methods: The HTTP methods it answers.
        path: The exact path, or the prefix when ``prefix`` is true.
        family: The wire dialect of its responses and errors.
        auth: Which password it requires.
        endpoint: The handler at the end of the chain.
        json: Whether the body must be a JSON object.
        steps: Route-specific chain steps run before the endpoint.
        prefix: Match every path that starts with ``path``.
    """

    name: str
    methods: tuple[str, ...]
    path: str
    family: Family
    auth: Auth
    endpoint: Handler
    json: bool = False
    steps: tuple[Step, ...] = ()
    prefix: bool = False


class Router:
    """Finds the route for a method and path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._exact: dict[str, dict[str, Route]] = {}
        self._prefixed: list[Route] = []
        for route in self.routes:
            if route.prefix:
                self._prefixed.append(route)
                continue
            by_method = self._exact.setdefault(route.path, {})
            for method in route.methods:
                if method in by_method:
                    raise ValueError(f"two routes for {method} {route.path}")
                by_method[method] = route

    def match(self, method: str, path: str) -> Route:
        """The route for ``method`` and ``path``.

        Raises:
            NotFound: no route has this path.
            MethodNotAllowed: routes have this path, none with this method.
        """
        by_method = self._exact.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is None and method == "HEAD":
                route = by_method.get("GET")
            if route is not None:
                return route
            raise MethodNotAllowed(method, tuple(sorted(by_method)))
        allowed: set[str] = set()
        for route in self._prefixed:
            if path.startswith(route.path):
                if method in route.methods:
                    return route
                allowed.update(route.methods)
        if allowed:
            raise MethodNotAllowed(method, tuple(sorted(allowed)))
        raise NotFound(f"No route for {path}")


def family_for_path(path: str) -> Family:
    """The dialect to answer in when no route matched (404) or before routing."""
    if path.startswith("/api/"):
        return Family.ADMIN
    if path.startswith(("/v1/v1beta", "/v1/v1/", "/v1/vertex", "/v1beta")):
        return Family.GEMINI
    if "chat/completions" in path or path.startswith("/gemini/"):
        return Family.OPENAI
    return Family.ANTHROPIC
