"""The ASGI 3 application: lifespan, routing, the chain, errors, one log line.

Written against plain ASGI with anyio primitives only, so the same object runs
under hypercorn's trio worker (the standalone server), under uvicorn/asyncio, and
mounted under a path prefix inside another ASGI app. When mounted, servers keep
the full path in ``scope["path"]`` and the prefix in ``root_path``, so the prefix
is stripped here before routing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import anyio

from ..chain import Handler, compose
from ..chain.auth import authenticate
from ..chain.body import parse_json, read_body, watch_disconnect
from ..errors import ProxyError
from ..proxy import Proxy
from .request import ClientDisconnected, Request
from .routing import Route, Router, family_for_path
from .types import Receive, Scope, Send

__all__ = ["App"]

log = logging.getLogger("llmproxy.access")

CORS_HEADERS = {
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    "access-control-allow-headers": "*",
    "access-control-max-age": "86400",
}


class _InternalError(ProxyError):
    kind = "api_error"
    default_status = 500


class App:
    """The llmproxy ASGI application.

    Args:
        proxy: The shared state.
        routes: The route table.
        body_limit: Largest request body accepted, in bytes.
    """

    def __init__(self, proxy: Proxy, routes: Iterable[Route], *, body_limit: int) -> None:
        self.proxy = proxy
        self.router = Router(routes)
        self._pipelines: dict[str, Handler] = {}
        for route in self.router.routes:
            steps = [authenticate(route.auth), read_body(body_limit)]
            if route.json:
                steps.append(parse_json)
            steps.append(watch_disconnect)
            steps.extend(route.steps)
            self._pipelines[route.name] = compose(steps, route.endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with anyio.create_task_group() as group:
            try:
                await self.proxy.start(group)
            except Exception as exc:
                group.cancel_scope.cancel()
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await self.proxy.stop()
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        request = Request(scope, receive, send, path)
        request.app = self.proxy
        request.started_at = time.perf_counter()
        request.family = family_for_path(path)
        self.proxy.ensure_started()
        self.proxy.stats.begin()
        try:
            if request.method == "OPTIONS":
                await request.send_bytes(b"", status=204, content_type=b"text/plain", headers=CORS_HEADERS)
                return
            route = self.router.match(request.method, path)
            request.route = route
            request.family = route.family
            await self._pipelines[route.name](request)
            if not request.started and not request.disconnected:
                raise _InternalError("The route produced no response")
        except ProxyError as exc:
            await self._answer_error(request, exc)
        except ClientDisconnected:
            request.disconnected = True
        except Exception:
            log.exception("unhandled error on %s %s", request.method, path)
            await self._answer_error(request, _InternalError("Internal proxy error; see the proxy log"))
        finally:
            if request.streaming and not request.finished and not request.disconnected:
                await request.end_stream()
            self._finish(request)

    async def _answer_error(self, request: Request, exc: ProxyError) -> None:
        request.error_kind = exc.kind
        if request.disconnected:
            return
        await request.send_error(exc)

    def _finish(self, request: Request) -> None:
        elapsed = time.perf_counter() - request.started_at
        route = request.route.name if request.route is not None else None
        kind = "disconnected" if request.disconnected and request.error_kind is None else request.error_kind
        self.proxy.stats.end(route, elapsed, kind)
        self._log(request, elapsed)

    @staticmethod
    def _log(request: Request, elapsed: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        status = "disconnected" if request.disconnected else str(request.status)
        route = request.route.name if request.route is not None else "-"
        # The path, never the query string: Gemini clients put the password in ?key=.
        log.info(
            "%s %s route=%s model=%s status=%s %.3fs cred=%s",
            request.method,
            request.path,
            route,
            request.model or "-",
            status,
            elapsed,
            request.credential or "-",
        )
