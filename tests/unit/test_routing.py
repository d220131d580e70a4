"""Route matching: exact paths, prefixes, 404 vs 405, and the dialect of stray paths."""

from __future__ import annotations

import pytest

from llmproxy.asgi.families import Family
from llmproxy.asgi.routing import Router, family_for_path
from llmproxy.errors import MethodNotAllowed, NotFound
from llmproxy.routes import build_routes


@pytest.fixture
def router() -> Router:
    return Router(build_routes())


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("POST", "/v1/messages", "web.messages"),
        ("POST", "/code/v1/messages/count_tokens", "code.count_tokens"),
        ("GET", "/code/v1/models", "code.models"),
        ("HEAD", "/api/version", "admin.version"),
        ("POST", "/v1/v1beta/models/gemini-2.5-pro:streamGenerateContent", "gemini.native"),
        ("GET", "/v1/v1beta/models", "gemini.native"),
        ("POST", "/v1/vertex/v1beta/models/gemini-2.5-pro:generateContent", "vertex.native"),
        ("DELETE", "/api/cookie", "admin.cookie"),
    ],
)
def test_match(router: Router, method: str, path: str, name: str) -> None:
    assert router.match(method, path).name == name


def test_wrong_method_lists_allowed(router: Router) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("PUT", "/api/cookie")
    assert caught.value.headers["allow"] == "DELETE, POST"
    with pytest.raises(MethodNotAllowed):
        router.match("DELETE", "/v1/v1beta/models/x:generateContent")


def test_unknown_path(router: Router) -> None:
    with pytest.raises(NotFound):
        router.match("GET", "/v2/messages")
    with pytest.raises(NotFound):
        router.match("POST", "/v1/messages/")


def test_duplicate_routes_refused() -> None:
    routes = build_routes()
    with pytest.raises(ValueError, match="two routes"):
        Router([*routes, routes[0]])


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/api/x", Family.ADMIN),
        ("/v1/v1beta/anything", Family.GEMINI),
        ("/v1/vertex/v1beta/x", Family.GEMINI),
        ("/x/chat/completions", Family.OPENAI),
        ("/gemini/other", Family.OPENAI),
        ("/v1/other", Family.ANTHROPIC),
        ("/", Family.ANTHROPIC),
    ],
)
def test_family_for_stray_paths(path: str, family: Family) -> None:
    assert family_for_path(path) is family
