"""A lean HTTP/1.1 ASGI server on trio + h11: the standalone program's default server.

Why not hypercorn? Issue 8 budgets 500 µs of CPU per proxied JSON request and
40 µs per relayed SSE chunk. hypercorn's trio worker alone costs ~400-480 µs per
request and ~45 µs per ``http.response.body`` on this project's benchmark
machine, against ~96 µs and ~15 µs for a bare trio + h11 loop (stack.md §3.3).
Most of the difference is structural: hypercorn runs every request in a task of
its own and passes events between tasks through queues. This server runs the
app inline in the connection's task and reads and writes the socket only when
the app asks (see ``_http11``).

What it does not do, by design: HTTP/2, TLS, WebSocket (upgrade requests are
served as plain HTTP/1.1 requests; the app is HTTP-only), trailers, and the
``http.response.pathsend``/``zerocopysend`` extensions. hypercorn remains
available for those (``llmproxy.runner.run(..., server="hypercorn")``).

Public surface: :func:`serve` and the errors in ``_errors``.
"""

from __future__ import annotations

from ._errors import LifespanFailure as LifespanFailure
from ._errors import ServerError as ServerError
from ._errors import UnexpectedMessage as UnexpectedMessage
from ._server import serve as serve

__all__ = ["LifespanFailure", "ServerError", "UnexpectedMessage", "serve"]
