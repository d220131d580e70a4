"""What the server writes on its own: the ``Date`` header and short error responses.

Both sit on the hot path or next to it, so they are precomputed: the date string
changes once a second and is formatted at most once a second, and the error bodies
are built once per status.
"""

from __future__ import annotations

import http
import time
from email.utils import formatdate

import h11

__all__ = ["REASONS", "current_date", "error_response"]

REASONS: dict[int, bytes] = {s.value: s.phrase.encode("ascii") for s in http.HTTPStatus}
"""Reason phrases by status, so the status line reads ``200 OK`` rather than h11's bare ``200``."""

_date_second = -1
_date_value = b""


def current_date() -> bytes:
    """The ``Date`` header value (RFC 9110 IMF-fixdate), formatted at most once a second."""
    global _date_second, _date_value
    now = int(time.time())
    if now != _date_second:
        _date_value = formatdate(now, usegmt=True).encode("ascii")
        _date_second = now
    return _date_value


_END = h11.EndOfMessage()


def error_response(conn: h11.Connection, status: int, *, head_only: bool = False) -> bytes:
    """A complete ``text/plain`` error response that also closes the connection.

    The body is only the reason phrase. It never echoes the request or the
    exception: a malformed header line may hold a password.

    Args:
        conn: The connection, in state ``IDLE`` or ``SEND_RESPONSE`` on our side.
        status: The status code, e.g. 400, 431 or 500.
        head_only: The request was ``HEAD``: send the headers but no body.

    Returns:
        The bytes to write; h11's state moves to ``MUST_CLOSE``.
    """
    body = REASONS.get(status, b"Error") + b"\n"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        (b"date", current_date()),
    ]
    head = h11.Response(status_code=status, headers=headers, reason=REASONS.get(status, b""))
    data = conn.send(head)
    if not head_only:
        data += conn.send(h11.Data(data=body))
    return data + conn.send(_END)
