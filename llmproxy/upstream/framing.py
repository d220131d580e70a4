"""Response bodies off the wire: chunked, by ``Content-Length``, or up to EOF. Sans-IO.

h11 parses the status line and headers of every upstream answer (that is where
its validation earns its keep); the body is read here. On a relayed stream each
upstream event arrives as its own chunk, and h11 spends about 6 µs per chunk
turning it into ``Data`` events through its state machine and receive buffer,
more than the rest of the read path together. A body reader only has to find
each chunk's size line and slice out the data, so here every socket read becomes
one ``feed()`` call that returns *all* the data it completed, joined.

The readers are strict where it matters for a proxy: a malformed size line or
chunk footer, or EOF before the end of a chunked or sized body, is a
:class:`FramingError` (the caller turns it into a 502), never silently shorter
data. Chunk extensions and trailer fields are skipped, as h11 does.

Each reader has the same three members: ``feed(data) -> bytes`` (``b""`` is
EOF), ``done`` and ``leftover`` (bytes the server sent after the body ended,
which make the connection unusable for another request).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Protocol

__all__ = [
    "BodyReader",
    "ChunkedBody",
    "FramingError",
    "LengthBody",
    "UntilClose",
    "body_reader",
]

MAX_LINE: Final = 4096
"""A chunk size line or trailer field longer than this is refused."""

MAX_TRAILER: Final = 64 * 1024
"""Trailer fields (skipped) beyond this many bytes in all are refused."""

_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")

# Where a chunked body is in its grammar.
_SIZE: Final = 0  # expecting a size line
_DATA: Final = 1  # inside a chunk's data
_FOOTER: Final = 2  # expecting the CRLF after a chunk's data
_TRAILER: Final = 3  # after the last (zero) chunk: trailer fields, then an empty line


class FramingError(Exception):
    """The body broke its own framing, or the connection closed before it ended."""


class BodyReader(Protocol):
    """What the client needs of a body reader."""

    done: bool
    leftover: bytes

    def feed(self, data: bytes) -> bytes:
        """The body bytes ``data`` completes; ``b""`` as ``data`` means EOF."""
        ...


class LengthBody:
    """A body of ``Content-Length`` bytes."""

    __slots__ = ("_left", "done", "leftover")

    def __init__(self, length: int) -> None:
        self._left = length
        self.done = length == 0
        self.leftover = b""

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.leftover += data
            return b""
        if not data:
            raise FramingError(f"the connection closed {self._left} bytes before the end of the body")
        left = self._left
        if len(data) < left:
            self._left = left - len(data)
            return data
        self._left = 0
        self.done = True
        if len(data) > left:
            self.leftover = data[left:]
            return data[:left]
        return data


class UntilClose:
    """A body without framing: it ends when the server closes the connection."""

    __slots__ = ("done", "leftover")

    def __init__(self) -> None:
        self.done = False
        self.leftover = b""

    def feed(self, data: bytes) -> bytes:
        if not data:
            self.done = True
        return data


class ChunkedBody:
    """A ``Transfer-Encoding: chunked`` body."""

    __slots__ = ("_buffer", "_state", "_left", "_trailer", "done", "leftover")

    def __init__(self) -> None:
        self._buffer = b""
        """Bytes of a size line, footer or trailer that are not complete yet."""
        self._state = _SIZE
        self._left = 0
        """Data bytes still to come in the current chunk."""
        self._trailer = 0
        self.done = False
        self.leftover = b""

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.leftover += data
            return b""
        if not data:
            raise FramingError("the connection closed before the end of the chunked body")
        buf = self._buffer + data if self._buffer else data
        end = len(buf)
        pos = 0
        state = self._state
        first = b""
        more: list[bytes] | None = None
        while pos < end:
            if state == _DATA:
                take = min(self._left, end - pos)
                piece = buf if take == end else buf[pos : pos + take]
                if not first:
                    first = piece
                elif more is None:
                    more = [first, piece]
                else:
                    more.append(piece)
                pos += take
                self._left -= take
                if not self._left:
                    state = _FOOTER
            elif state == _SIZE:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    if end - pos > MAX_LINE:
                        raise FramingError("a chunk size line is too long")
                    break
                match = _SIZE_LINE.fullmatch(buf, pos, line_end)
                if match is None:
                    raise FramingError(f"malformed chunk size line {_shown(buf[pos:line_end])}")
                self._left = int(match[1], 16)
                pos = line_end + 2
                state = _DATA if self._left else _TRAILER
            elif state == _FOOTER:
                if end - pos < 2:
                    if buf[pos:] != b"\r":
                        raise FramingError("chunk data is not followed by CRLF")
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise FramingError("chunk data is not followed by CRLF")
                pos += 2
                state = _SIZE
            else:  # _TRAILER: fields up to an empty line
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    if end - pos > MAX_LINE:
                        raise FramingError("a trailer field is too long")
                    break
                if line_end == pos:
                    self.done = True
                    self.leftover = buf[pos + 2 :]
                    pos = end
                    break
                self._trailer += line_end + 2 - pos
                if self._trailer > MAX_TRAILER:
                    raise FramingError("the trailer is too long")
                pos = line_end + 2
        self._state = state
        self._buffer = buf[pos:] if pos < end else b""
        return first if more is None else b"".join(more)


def body_reader(
    method: str, status: int, headers: Sequence[tuple[bytes, bytes]]
) -> ChunkedBody | LengthBody | UntilClose:
    """The reader for a response to ``method`` with ``status`` and (lower-case) ``headers``.

    The headers come from h11, which has already refused any transfer coding
    but ``chunked`` and any inconsistent ``Content-Length``.
    """
    if method == "HEAD" or status in (204, 304) or (method == "CONNECT" and 200 <= status < 300):
        return LengthBody(0)
    length: int | None = None
    for name, value in headers:
        if name == b"transfer-encoding":
            return ChunkedBody()
        if name == b"content-length":
            length = int(value)
    return UntilClose() if length is None else LengthBody(length)


def _shown(line: bytes) -> str:
    return repr(line[:40])
