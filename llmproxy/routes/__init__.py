"""The proxy's whole HTTP surface, in one table.

Every route a client of ClewdR can call (clewdr-behaviour.md §2.1 and the Gemini
routes of §7.1), plus the dashboard's, each with its wire family and password.
"""

from __future__ import annotations

from ..asgi.families import Family
from ..asgi.routing import Route
from ..chain import Handler
from ..chain.auth import Auth
from . import admin, chat, code, gemini, gemini_admin, web

__all__ = ["build_routes"]

A, O, G, ADM = Family.ANTHROPIC, Family.OPENAI, Family.GEMINI, Family.ADMIN


def _route(
    name: str,
    methods: str,
    path: str,
    family: Family,
    auth: Auth,
    endpoint: Handler,
    *,
    prefix: bool = False,
    json: bool | None = None,
) -> Route:
    """One table row."""
    method_tuple = tuple(methods.split(","))
    return Route(
        name=name,
        methods=method_tuple,
        path=path,
        family=family,
        auth=auth,
        endpoint=endpoint,
        json=(method_tuple == ("POST",)) if json is None else json,
        prefix=prefix,
    )


def build_routes() -> list[Route]:
    """The route table of a fresh app."""
    api, gemini_key, adm, none = Auth.API, Auth.GEMINI, Auth.ADMIN, Auth.NONE
    return [
        # claude.ai web (cookies), Claude and OpenAI formats
        _route("web.messages", "POST", "/v1/messages", A, api, web.messages),
        _route("web.count_tokens", "POST", "/v1/messages/count_tokens", A, api, web.count_tokens),
        _route("web.chat", "POST", "/v1/chat/completions", O, api, chat.web_chat),
        _route("web.models", "GET", "/v1/models", A, api, code.models),
        # Claude Code (cookies -> OAuth -> Messages API)
        _route("code.messages", "POST", "/code/v1/messages", A, api, code.messages),
        _route("code.count_tokens", "POST", "/code/v1/messages/count_tokens", A, api,
               code.count_tokens),
        _route("code.chat", "POST", "/code/v1/chat/completions", O, api, chat.code_chat),
        _route("code.models", "GET", "/code/v1/models", A, api, code.models),
        # Gemini AI Studio and Vertex AI, native and OpenAI formats
        _route("gemini.native", "GET,POST", "/v1/v1beta/", G, gemini_key, gemini.native,
               prefix=True, json=False),
        _route("vertex.native", "GET,POST", "/v1/vertex/v1beta/", G, gemini_key,
               gemini.vertex_native, prefix=True, json=False),
        # google-genai 3.x asks for /v1/... unless told api_version="v1beta"
        _route("gemini.native.v1", "GET,POST", "/v1/v1/", G, gemini_key, gemini.native,
               prefix=True, json=False),
        _route("vertex.native.v1", "GET,POST", "/v1/vertex/v1/", G, gemini_key,
               gemini.vertex_native, prefix=True, json=False),
        _route("gemini.chat", "POST", "/gemini/chat/completions", O, api, gemini.chat),
        _route("vertex.chat", "POST", "/gemini/vertex/chat/completions", O, api, gemini.vertex_chat),
        _route("gemini.models", "GET", "/gemini/models", O, api, gemini.models),
        # admin API and page
        _route("admin.version", "GET", "/api/version", ADM, none, admin.version),
        _route("admin.auth", "GET", "/api/auth", ADM, adm, admin.auth),
        _route("admin.status", "GET", "/api/status", ADM, adm, admin.status),
        _route("admin.config", "GET,POST", "/api/config", ADM, adm, admin.config, json=False),
        _route("admin.cookies", "GET", "/api/cookies", ADM, adm, admin.cookies),
        _route("admin.cookie", "POST,DELETE", "/api/cookie", ADM, adm, admin.cookie, json=False),
        _route("admin.keys", "GET", "/api/keys", ADM, adm, gemini_admin.keys),
        _route("admin.key", "POST,DELETE", "/api/key", ADM, adm, gemini_admin.key, json=False),
        _route("admin.vertex_list", "GET", "/api/vertex/credentials", ADM, adm,
               gemini_admin.vertex_credentials),
        _route("admin.vertex", "POST,DELETE", "/api/vertex/credential", ADM, adm,
               gemini_admin.vertex_credential, json=False),
        _route("admin.page", "GET", "/", ADM, none, admin.page),
        _route("admin.static", "GET", "/static/", ADM, none, admin.static, prefix=True),
    ]
