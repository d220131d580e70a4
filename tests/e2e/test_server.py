"""The app served for real (hypercorn trio worker on 127.0.0.1): guards, errors, streams."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from llmproxy import build_app
from llmproxy.asgi.app import App
from llmproxy.asgi.families import Family
from llmproxy.asgi.request import Request
from llmproxy.asgi.routing import Route
from llmproxy.chain.auth import Auth
from llmproxy.config import ConfigStore, Settings
from llmproxy.errors import UpstreamError
from llmproxy.routes import build_routes
from tests.fakes.server import serve

API = "api-password-" + "a" * 51
ADMIN = "admin-password-" + "b" * 49


class Probe:
    """Test-only routes that expose the streaming and cancellation machinery."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.first_sent = trio.Event()
        self.cancelled = trio.Event()

    async def stream(self, request: Request) -> None:
        await request.start_stream()
        await request.send_event(b"event: one\ndata: {}\n\n")
        self.first_sent.set()
        await self.release.wait()
        await request.send_event(b"event: two\ndata: {}\n\n")
        await request.end_stream()

    async def hang(self, request: Request) -> None:
        request.model = "claude-test"
        await request.start_stream()
        await request.send_event(b"event: one\ndata: {}\n\n")
        try:
            await trio.sleep_forever()
        finally:
            self.cancelled.set()

    async def fail_mid_stream(self, request: Request) -> None:
        await request.start_stream()
        await request.send_event(b"data: {}\n\n")
        raise UpstreamError("upstream went away", status=502, upstream_type="api_error")

    async def crash(self, request: Request) -> None:
        raise RuntimeError("bug")

    def routes(self) -> list[Route]:
        def r(name: str, family: Family, endpoint: Any) -> Route:
            return Route(name, ("POST",), f"/test/{name}", family, Auth.API, endpoint, json=True)

        return [
            r("stream", Family.ANTHROPIC, self.stream),
            r("hang", Family.ANTHROPIC, self.hang),
            r("fail-anthropic", Family.ANTHROPIC, self.fail_mid_stream),
            r("fail-openai", Family.OPENAI, self.fail_mid_stream),
            r("crash", Family.OPENAI, self.crash),
        ]


def make_app(tmp_path: Path, probe: Probe, body_limit: int = 64 * 1024) -> App:
    store = ConfigStore(tmp_path / "clewdr.toml")
    settings = Settings(password=API, admin_password=ADMIN)
    return build_app_with(settings, store, probe, body_limit)


def build_app_with(settings: Settings, store: ConfigStore, probe: Probe, body_limit: int) -> App:
    app = build_app(settings, store, body_limit=body_limit)
    return App(app.proxy, [*build_routes(), *probe.routes()], body_limit=body_limit)


@asynccontextmanager
async def running(tmp_path: Path, probe: Probe | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, Probe]]:
    probe = probe or Probe()
    app = make_app(tmp_path, probe)
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        yield client, probe


# -- passwords --------------------------------------------------------------------

ACCEPTED = 0
"""The password was accepted: the route answered, with anything but 401/403."""

AUTH_CASES = [
    # (method, path, headers, query, expected status)
    ("POST", "/v1/messages", {"x-api-key": API}, None, ACCEPTED),
    ("POST", "/v1/messages", {"authorization": f"Bearer {API}"}, None, ACCEPTED),
    ("POST", "/v1/messages", {"x-api-key": "wrong", "authorization": f"Bearer {API}"}, None, ACCEPTED),
    ("POST", "/v1/messages", {"x-api-key": ADMIN}, None, 401),
    ("POST", "/v1/messages", {}, None, 401),
    ("POST", "/v1/chat/completions", {"authorization": f"Bearer {API}"}, None, ACCEPTED),
    ("POST", "/v1/chat/completions", {"authorization": f"Bearer {ADMIN}"}, None, 401),
    ("POST", "/v1/chat/completions", {"authorization": f"Basic {API}"}, None, 401),
    ("POST", "/v1/v1beta/models/gemini-2.5-pro:generateContent", {}, {"key": API}, ACCEPTED),
    ("POST", "/v1/v1beta/models/gemini-2.5-pro:generateContent", {"x-goog-api-key": API}, None, ACCEPTED),
    ("POST", "/v1/v1beta/models/gemini-2.5-pro:generateContent", {"authorization": f"Bearer {API}"}, None, 401),
    ("POST", "/v1/v1beta/models/gemini-2.5-pro:generateContent", {}, {"key": ADMIN}, 401),
    ("GET", "/api/auth", {"authorization": f"Bearer {ADMIN}"}, None, 200),
    ("GET", "/api/auth", {"authorization": f"Bearer {API}"}, None, 401),
    ("GET", "/api/auth", {"x-api-key": ADMIN}, None, 401),
    ("GET", "/api/version", {}, None, 200),
]


@pytest.mark.parametrize(("method", "path", "headers", "query", "expected"), AUTH_CASES)
async def test_passwords(
    tmp_path: Path, method: str, path: str, headers: dict[str, str], query: dict[str, str] | None, expected: int
) -> None:
    async with running(tmp_path) as (client, _):
        response = await client.request(method, path, headers=headers, params=query, content=b"{}")
    if expected == ACCEPTED:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == expected, response.text


# -- error shapes -------------------------------------------------------------------


async def test_errors_speak_each_family_dialect(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        anthropic = await client.post("/v1/messages", content=b"{}")
        openai = await client.post("/v1/chat/completions", content=b"{}")
        gemini = await client.post("/v1/v1beta/models/m:generateContent", content=b"{}")
        admin = await client.get("/api/auth")
    assert anthropic.json()["type"] == "error"
    assert anthropic.json()["error"]["type"] == "authentication_error"
    assert set(openai.json()["error"]) == {"message", "type", "param", "code"}
    assert openai.json()["error"]["code"] == "invalid_api_key"
    assert gemini.json() == {
        "error": {
            "code": 401,
            "message": "Missing API key: pass the API password as ?key= or x-goog-api-key",
            "status": "UNAUTHENTICATED",
        }
    }
    assert admin.json() == {"error": "Admin password required as Authorization: Bearer"}
    for response in (anthropic, openai, gemini, admin):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"


async def test_unknown_path_and_wrong_method(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        missing = await client.get("/v1/nothing-here")
        admin_missing = await client.get("/api/nothing")
        wrong = await client.get("/v1/messages", headers={"x-api-key": API})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    assert admin_missing.status_code == 404
    assert "error" in admin_missing.json()
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b'{"model": "x",}', "line 1 column 15"),
        (b"[1, 2]", "got an array"),
        (b'"text"', "got a string"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
async def test_bad_json_is_a_400_that_names_the_problem(tmp_path: Path, body: bytes, needle: str) -> None:
    async with running(tmp_path) as (client, _):
        response = await client.post("/code/v1/messages", content=body, headers={"x-api-key": API})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert needle in response.json()["error"]["message"]


async def test_body_limit(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        declared = await client.post("/v1/messages", content=b"x" * (64 * 1024 + 1), headers={"x-api-key": API})

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"y" * 1024

        streamed = await client.post("/v1/messages", content=chunked(), headers={"x-api-key": API})
        just_fits = await client.post(
            "/v1/messages", content=b'{"a":"' + b"z" * (64 * 1024 - 8) + b'"}', headers={"x-api-key": API}
        )
    assert declared.status_code == 413
    assert declared.json()["error"]["type"] == "request_too_large"
    assert streamed.status_code == 413
    assert just_fits.status_code == 400  # read whole, then judged: no model
    assert "model" in just_fits.json()["error"]["message"]


async def test_version_needs_no_password(tmp_path: Path) -> None:
    from llmproxy import __version__

    async with running(tmp_path) as (client, _):
        response = await client.get("/api/version")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.splitlines()[0] == f"v{__version__}"


async def test_cors_preflight(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        response = await client.options(
            "/v1/messages",
            headers={"origin": "http://example.test", "access-control-request-method": "POST"},
        )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_unexpected_error_is_a_500_in_dialect_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmproxy")
    async with running(tmp_path) as (client, _):
        response = await client.post("/test/crash", json={}, headers={"x-api-key": API})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "RuntimeError: bug" in caplog.text


# -- streams --------------------------------------------------------------------------


async def test_each_event_is_flushed_as_it_is_sent(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, probe):
        async with client.stream("POST", "/test/stream", json={}, headers={"x-api-key": API}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = response.aiter_raw()
            assert await chunks.__anext__() == b"event: one\ndata: {}\n\n"
            assert not probe.release.is_set()  # the second event does not exist yet
            probe.release.set()
            assert b"".join([c async for c in chunks]) == b"event: two\ndata: {}\n\n"


async def test_client_disconnect_cancels_the_handler(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmproxy.access")
    async with running(tmp_path) as (client, probe):
        async with client.stream("POST", "/test/hang", json={}, headers={"x-api-key": API}) as response:
            await response.aiter_raw().__anext__()
        with trio.fail_after(10):
            await probe.cancelled.wait()
    lines = [r.getMessage() for r in caplog.records if r.name == "llmproxy.access"]
    assert any("route=hang" in line and "status=disconnected" in line for line in lines)


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("/test/fail-anthropic", b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream went away"}}\n\n'),
        ("/test/fail-openai", b'data: {"error":{"message":"upstream went away","type":"api_error","param":null,"code":null}}\n\n'),
    ],
)
async def test_error_after_stream_start_is_an_error_event(tmp_path: Path, route: str, expected: bytes) -> None:
    async with running(tmp_path) as (client, _):
        response = await client.post(route, json={}, headers={"x-api-key": API})
    assert response.status_code == 200  # the status went out before the failure
    assert response.content.endswith(expected)


# -- the log -----------------------------------------------------------------------


async def test_one_log_line_per_request_without_secrets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmproxy")
    async with running(tmp_path) as (client, _):
        await client.post("/v1/messages", json={}, headers={"x-api-key": API})
        await client.post("/v1/v1beta/models/m:generateContent", params={"key": API}, content=b"{}")
        await client.get("/api/auth", headers={"authorization": f"Bearer {ADMIN}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "llmproxy.access"]
    assert len(lines) == 3
    assert "POST /v1/messages route=web.messages model=- status=400" in lines[0]
    assert "route=gemini.native" in lines[1] and "status=" in lines[1]
    assert "status=200" in lines[2]
    assert API not in caplog.text
    assert ADMIN not in caplog.text
