"""The app embedded in other hosts: under uvicorn (asyncio), mounted in Starlette, in memory.

The standalone server runs the app on hypercorn's trio worker; these tests prove that the
same object from ``create_app`` also works

- mounted under a path prefix in a Starlette app served by uvicorn (Starlette does not
  forward lifespan events to mounts, so background work must start lazily, "detached");
- directly under uvicorn with lifespan on (services in the lifespan task group, a final
  save on shutdown) and with lifespan off (detached again);
- from an in-memory :class:`Settings` object, which must never touch the filesystem;
- under hypercorn's trio worker in-process, with the lifespan shutdown flushing a change.

uvicorn runs in a background thread on a pre-bound ``127.0.0.1:0`` socket; every wait is
a bounded poll, never a fixed sleep. Settings are changed from inside the server's event
loop (a test-only route), because ``Proxy.mark_dirty`` wakes an event of that loop and is
not thread-safe.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import llmproxy.proxy
from llmproxy import App, Settings, create_app

START_TIMEOUT = 30.0
SAVE_TIMEOUT = 10.0
POLL = 0.05
NEVER = 3600.0  # a coalescing delay no test waits out: only an explicit flush can save


# -- helpers ------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL)


def saved(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def file_has_prompt(path: Path, value: str) -> bool:
    try:
        return saved(path).get("custom_prompt") == value
    except (OSError, tomllib.TOMLDecodeError):
        return False


def set_prompt(proxy: llmproxy.proxy.Proxy, value: str) -> None:
    """Change a setting the way the admin API will: swap the settings, mark dirty."""
    proxy.update_settings(proxy.settings.replace(custom_prompt=value))


def with_setter(app: App) -> Any:
    """``app`` plus ``POST /_test/prompt?value=...``, run on the server's own loop.

    Every other scope, lifespan included, goes to ``app`` unchanged.
    """

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_test/prompt":
            query = dict(
                part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part
            )
            set_prompt(app.proxy, query["value"])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return wrapper


@contextlib.contextmanager
def serve_uvicorn(asgi: Any, *, lifespan: Literal["on", "off"]) -> Iterator[str]:
    """Run ``asgi`` under uvicorn in a thread; yield its base URL; stop and join on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi, lifespan=lifespan, log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), START_TIMEOUT, "uvicorn to start")
        assert server.started, f"uvicorn stopped before it started: {errors}"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
        assert not errors, errors


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=10.0)


def assert_anthropic_error(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def check_surface(http: httpx.Client, prefix: str, password: str) -> None:
    """The few routes every host must serve the same way."""
    response = http.get(f"{prefix}/api/version")
    assert response.status_code == 200, response.text
    assert response.text.startswith("v"), response.text

    assert_anthropic_error(http.post(f"{prefix}/v1/messages", json={}), 401, "authentication_error")
    assert_anthropic_error(
        http.post(f"{prefix}/v1/messages", json={}, headers={"x-api-key": "wrong"}),
        401,
        "authentication_error",
    )
    assert_anthropic_error(
        http.post(f"{prefix}/v1/messages", json={}, headers={"x-api-key": password}),
        400,
        "invalid_request_error",
    )
    assert http.get(f"{prefix}/nope").status_code == 404


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "clewdr.toml"


@pytest.fixture
def fast_saver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the coalescing delay short and known, whatever the default becomes."""
    monkeypatch.setattr(llmproxy.proxy, "SAVE_COALESCE_SECONDS", 0.05)


# -- uvicorn (asyncio) --------------------------------------------------------------------


@pytest.mark.usefixtures("fast_saver")
def test_mounted_in_starlette_under_uvicorn(config_path: Path) -> None:
    app = create_app(config_path, environ={})
    assert config_path.is_file(), "create_app writes a new file with the generated passwords"
    on_disk = saved(config_path)
    password = on_disk["password"]
    assert isinstance(password, str) and len(password) == 64
    assert password == app.proxy.settings.password
    assert on_disk["admin_password"] == app.proxy.settings.admin_password

    async def change(request: StarletteRequest) -> PlainTextResponse:
        set_prompt(app.proxy, request.query_params["value"])
        return PlainTextResponse("ok")

    host = Starlette(routes=[Route("/_test/prompt", change, methods=["POST"]), Mount("/llm", app=app)])
    assert app.proxy.mode is None
    with serve_uvicorn(host, lifespan="on") as base, client(base) as http:
        check_surface(http, "/llm", password)
        # Starlette ran its own lifespan but did not forward it: the first request started us.
        assert app.proxy.mode == "detached"

        assert http.post("/_test/prompt", params={"value": "from-embedded"}).status_code == 200
        wait_until(
            lambda: file_has_prompt(config_path, "from-embedded"),
            SAVE_TIMEOUT,
            "the detached saver to write the change under asyncio",
        )
    after = saved(config_path)
    assert after["password"] == password, "a save must keep the passwords"
    assert after["admin_password"] == on_disk["admin_password"]


@pytest.mark.usefixtures("fast_saver")
def test_uvicorn_with_lifespan(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(config_path, environ={})
    password = saved(config_path)["password"]
    with serve_uvicorn(with_setter(app), lifespan="on") as base, client(base) as http:
        assert app.proxy.mode == "lifespan", "uvicorn sent lifespan.startup before serving"
        check_surface(http, "", password)
        assert app.proxy.mode == "lifespan"

        assert http.post("/_test/prompt", params={"value": "first"}).status_code == 204
        wait_until(lambda: file_has_prompt(config_path, "first"), SAVE_TIMEOUT, "the saver")
        wait_until(lambda: not app.proxy.dirty, SAVE_TIMEOUT, "the saver to finish")

        # From now on the saver would wait an hour: only the shutdown flush can save this.
        monkeypatch.setattr(llmproxy.proxy, "SAVE_COALESCE_SECONDS", NEVER)
        assert http.post("/_test/prompt", params={"value": "last"}).status_code == 204
        assert app.proxy.dirty
        assert file_has_prompt(config_path, "first")
    assert file_has_prompt(config_path, "last"), "the lifespan shutdown did not save the last change"
    assert not app.proxy.dirty


@pytest.mark.usefixtures("fast_saver")
def test_uvicorn_without_lifespan_starts_detached(config_path: Path) -> None:
    app = create_app(config_path, environ={})
    password = saved(config_path)["password"]
    with serve_uvicorn(with_setter(app), lifespan="off") as base, client(base) as http:
        assert app.proxy.mode is None, "nothing may start before a request arrives"
        check_surface(http, "", password)
        assert app.proxy.mode == "detached"

        assert http.post("/_test/prompt", params={"value": "no-lifespan"}).status_code == 204
        wait_until(
            lambda: file_has_prompt(config_path, "no-lifespan"), SAVE_TIMEOUT, "the detached saver"
        )


@pytest.mark.usefixtures("fast_saver")
def test_in_memory_settings_never_touch_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(Settings(ip="127.0.0.1", port=0, custom_prompt="in-memory"))
    settings = app.proxy.settings
    assert len(settings.password) == 64
    assert len(settings.admin_password) == 64
    assert settings.password != settings.admin_password
    assert settings.custom_prompt == "in-memory"
    assert app.proxy.store.path is None

    kept = create_app(Settings(password="given-api", admin_password="given-admin"))
    assert kept.proxy.settings.password == "given-api"
    assert kept.proxy.settings.admin_password == "given-admin"

    with serve_uvicorn(with_setter(app), lifespan="on") as base, client(base) as http:
        assert app.proxy.mode == "lifespan"
        check_surface(http, "", settings.password)
        admin = {"authorization": f"Bearer {settings.admin_password}"}
        assert http.get("/api/auth", headers=admin).status_code == 200
        assert http.get("/api/auth", headers={"authorization": "Bearer x"}).status_code == 401
        assert http.post("/_test/prompt", params={"value": "changed"}).status_code == 204
        wait_until(lambda: not app.proxy.dirty, SAVE_TIMEOUT, "the saver to run")
        assert app.proxy.settings.custom_prompt == "changed"
    assert app.proxy.store.saves == 0
    assert list(tmp_path.iterdir()) == [], "in-memory settings must write nothing"


# -- hypercorn (trio) ---------------------------------------------------------------------


async def test_hypercorn_trio_lifespan_flushes_on_shutdown(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    app = create_app(config_path, environ={})
    password = saved(config_path)["password"]
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 5
    shutdown = trio.Event()
    stopped = trio.Event()

    async def run_server(task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            asgi: Any = app  # hypercorn's ASGIFramework type is narrower than a plain ASGI 3 callable
            await serve(asgi, config, shutdown_trigger=shutdown.wait, task_status=task_status)
        finally:
            stopped.set()

    with trio.fail_after(START_TIMEOUT):
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(run_server)
            base = binds[0]
            assert not base.endswith(":0"), binds
            assert app.proxy.mode == "lifespan"
            async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=10.0) as http:
                response = await http.get("/api/version")
                assert response.status_code == 200
                assert response.text.startswith("v")
                response = await http.post("/v1/messages", json={}, headers={"x-api-key": password})
                assert response.status_code == 400
                assert response.json()["type"] == "error"
            assert app.proxy.mode == "lifespan"

            # Same loop as the server here, so the change can be made directly. The saver
            # would wait an hour: only the lifespan shutdown can put it on disk.
            monkeypatch.setattr(llmproxy.proxy, "SAVE_COALESCE_SECONDS", NEVER)
            set_prompt(app.proxy, "from-trio")
            await trio.sleep(0)
            assert app.proxy.dirty
            assert not file_has_prompt(config_path, "from-trio")
            shutdown.set()
            await stopped.wait()
    assert file_has_prompt(config_path, "from-trio"), "the lifespan shutdown did not flush"
    assert not app.proxy.dirty
    assert saved(config_path)["password"] == password
