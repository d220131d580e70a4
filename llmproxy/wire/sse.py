"""Server-sent events (``text/event-stream``): a sans-IO decoder and a small encoder.

This module contains no networking code at all. The caller reads bytes from
wherever they come from and hands them to :meth:`SSEDecoder.feed`; it then asks
:meth:`SSEDecoder.next_event` for what is complete, which is an item or the
sentinel :data:`NEED_DATA` (the shape of h11's ``receive_data`` /
``next_event``). At end of stream the caller says :meth:`SSEDecoder.end`. The
encoder side is plain functions that return bytes.

What a decoder returns
----------------------

The stream is cut into *blocks*: lines up to and including the blank line that
ends them. Every block ended by a blank line becomes at most one item:

- :class:`SSEEvent` if the block carries an event (see "Dispatch" below);
- :class:`SSEComment` if it carries no event but has comment lines (``: ping``),
  so a relay can see keep-alives;
- nothing otherwise (a stray blank line, a block of unknown fields). Its bytes are
  not lost: they are the start of the next item's ``raw``.

Every item keeps ``raw``, the exact bytes it was parsed from, running from the end
of the previous item through its own terminating blank line. Concatenating the
``raw`` of every item gives back the input, minus what :meth:`SSEDecoder.end`
discarded (:attr:`SSEDecoder.discarded`). A proxy can therefore relay an upstream
event byte for byte: opaque fields such as a thinking ``signature`` are never
decoded and re-encoded on the way through.

A comment *inside* an event's block (``: note\\ndata: x\\n\\n``) is part of that
event's ``raw`` and is not reported on its own. A comment is reported when the
blank line that ends its block arrives; a server that sends bare comment lines
with no blank line after them is not seen until it does.

Which rules it follows
----------------------

The WHATWG HTML "server-sent events" parsing rules (section 9.2.6), with the
differences that the Python SDKs have (reference/protocols.md section 6):

- The body is UTF-8; one leading BOM is ignored (it stays in the first ``raw``).
  Invalid UTF-8 becomes U+FFFD, as the spec's "UTF-8 decode" does.
- A line ends with CRLF, a lone CR or a lone LF. A CR that is the last byte
  received so far may be the first half of a CRLF, so an event whose blank line
  ends in that CR is held until the next byte (or :meth:`SSEDecoder.end`) shows
  which: a CRLF split across two reads counts once, and ``raw`` always ends on a
  whole terminator. Only streams that use bare CR endings ever wait for this.
  Other Unicode line separators (VT, FF, NEL, U+2028) are data, not line ends.
- A line starting with ``:`` is a comment. Otherwise ``name:value``, split at the
  first colon; one U+0020 SPACE after the colon is removed (and from comment text
  too); a line with no colon is a field with an empty value. Field names are
  case-sensitive.
- ``event`` sets the type (the last one in a block wins; an empty value means
  "no type", reported as ``None``). ``data`` lines are joined with ``\\n``. ``id``
  is ignored when it contains NUL. ``retry`` is taken only when it is all ASCII
  digits. Any other field is ignored.
- Dispatch: the spec dispatches only when the data buffer is not empty. The
  anthropic and openai SDKs dispatch a block when it has any data line, a
  non-empty event type, a non-empty id, or a valid retry; this decoder does the
  same, so ``event: ping\\n\\n`` is an event with ``data == ""``. (Anthropic's
  servers always send a data line anyway.) Unlike the SDKs, a previous ``id``
  does not make every later blank line dispatch an empty event.
- :attr:`SSEEvent.id` is the id given in *that* block (or ``None``); the spec's
  sticky "last event ID" is :attr:`SSEDecoder.last_event_id`.
- At end of stream an event without its blank line is discarded (spec, and the
  anthropic and openai SDKs). :attr:`SSEDecoder.cut` says whether that happened,
  so a relay can tell a stream that was cut mid-event.

Cost
----

:meth:`SSEDecoder.feed` only appends to a ``bytearray``. :meth:`SSEDecoder.next_event`
finds the end of a block with one regular-expression search that resumes where
the previous search gave up (a few bytes back), so a large event arriving in many
small reads is scanned once, not once per read. A finished block is split with
``bytes.splitlines`` (which splits on CR, LF and CRLF only), field values are
decoded per line, and the consumed bytes are dropped from the front of the buffer
(amortised O(1) for a ``bytearray``). There is no per-byte Python loop.

Encoding
--------

:func:`encode_event` writes ``event: <name>\\ndata: <line>\\n...\\n\\n``, always with
a space after the colon (google-genai rejects ``data:`` without one). Data that
contains line breaks becomes several ``data:`` lines, which a decoder joins back
with ``\\n``; so CR and CRLF inside data come back as LF, because SSE cannot carry
them. JSON from ``json.dumps`` never contains a raw line break.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, final

__all__ = [
    "COMMENT_PING",
    "NEED_DATA",
    "NeedData",
    "SSEComment",
    "SSEDataReader",
    "SSEDecoder",
    "SSEEvent",
    "anthropic_ping",
    "encode_event",
]


class _Sentinel(type):
    """Metaclass for sentinels whose type is themselves (as h11's ``Sentinel``).

    ``type(NEED_DATA) is NEED_DATA``, so code that dispatches on ``type(item)``
    can have a branch for it.
    """

    def __new__(
        cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwds: Any
    ) -> _Sentinel:
        assert bases == (_Sentinel,)
        v = super().__new__(cls, name, bases, namespace, **kwds)
        v.__class__ = v  # type: ignore[assignment]
        return v

    def __repr__(self) -> str:
        return self.__name__


@final  # lets mypy narrow on ``item is NEED_DATA`` (it does not for h11's)
class NEED_DATA(_Sentinel, metaclass=_Sentinel):
    """Returned by :meth:`SSEDecoder.next_event` when no complete item is buffered.

    Before :meth:`SSEDecoder.end` it means "feed more bytes"; after it, the stream
    is finished.
    """


NeedData: TypeAlias = type[NEED_DATA]
"""The type of :data:`NEED_DATA`, for annotations."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SSEEvent:
    """One dispatched event.

    Attributes:
        event: The ``event:`` field, or ``None`` when the block had none (or an
            empty one); a browser would call that type ``message``.
        data: The ``data:`` lines joined with ``\\n`` (``""`` when there were none).
        id: The ``id:`` given in this block, or ``None``. See
            :attr:`SSEDecoder.last_event_id` for the sticky value.
        retry: The ``retry:`` value in milliseconds, or ``None``.
        raw: The exact bytes this event was parsed from, including any blank
            lines or ignored blocks before it and its terminating blank line.
            Empty for an event built by hand.
    """

    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None
    raw: bytes = b""

    def json(self) -> Any:
        """Parse :attr:`data` as JSON.

        Returns:
            The decoded value.

        Raises:
            json.JSONDecodeError: ``data`` is not JSON (for example an empty
                ``ping`` payload, or OpenAI's ``[DONE]``).
        """
        return json.loads(self.data)


@dataclass(frozen=True, slots=True, kw_only=True)
class SSEComment:
    """A block of comment lines only, such as a ``: ping`` keep-alive.

    Attributes:
        text: The comment lines without their leading ``:`` and one optional
            space, joined with ``\\n``.
        raw: The exact bytes of the block, as for :attr:`SSEEvent.raw`.
    """

    text: str = ""
    raw: bytes = b""


_BOM = b"\xef\xbb\xbf"
_CR = 0x0D

# A line terminator is CRLF, a lone CR or a lone LF (WHATWG "end-of-line"). The
# lookahead stops the CR of a CRLF from counting as a line end of its own, so a
# search that starts anywhere stays in step with the line structure.
_EOL = rb"(?:\r\n|\r(?!\n)|\n)"
# The end of a block: a line's terminator followed at once by an empty line.
_BLOCK_END = re.compile(_EOL + _EOL)
# When a search finds no block end, only the buffer's last line terminator (at
# most a CRLF) can be the first half of one that new bytes complete (a longer
# prefix would have matched already). The next search resumes that far back.
_LOOKBACK = 2
# Empty lines where a block would start dispatch nothing: skip to the first byte
# that is not part of a line terminator.
_NOT_EOL = re.compile(rb"[^\r\n]")
# Line breaks inside data handed to the encoder.
_SPLIT_LINES = re.compile(rb"\r\n|\r|\n")


class SSEDecoder:
    """Incremental parser for a ``text/event-stream`` body.

    Feed it bytes as they arrive and take items out::

        decoder = SSEDecoder()
        async for chunk in response.aiter_raw():
            decoder.feed(chunk)
            for item in decoder.events():
                ...
        decoder.end()
        for item in decoder.events():
            ...
        if decoder.cut:
            ...  # the upstream stopped in the middle of an event

    ``feed`` only buffers; parsing happens in ``next_event``, one item per call.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        # Everything before _pos has been parsed into blocks that dispatched
        # nothing; the next item's raw starts at 0 all the same.
        self._pos = 0
        # Where the next search for a block end resumes (>= _pos).
        self._scan = 0
        self._bom_pending = True
        self._ended = False
        self._ready: deque[SSEEvent | SSEComment] = deque()
        self._cut = False
        self._discarded = b""
        self._last_event_id: str | None = None

    @property
    def last_event_id(self) -> str | None:
        """The spec's "last event ID": the most recent accepted ``id:``, or ``None``.

        It is updated as blocks are parsed, even by blocks that dispatch nothing,
        and never reset (an empty ``id:`` sets it to ``""``).
        """
        return self._last_event_id

    @property
    def ended(self) -> bool:
        """Whether :meth:`end` has been called."""
        return self._ended

    @property
    def cut(self) -> bool:
        """Whether :meth:`end` discarded an unfinished block.

        ``True`` when the stream stopped after some non-blank line (or part of
        one) with no blank line to end it: the upstream was cut mid-event.
        Always ``False`` before :meth:`end`.
        """
        return self._cut

    @property
    def discarded(self) -> bytes:
        """The bytes :meth:`end` threw away: everything after the last item's ``raw``.

        That is the unfinished block if :attr:`cut`, plus any trailing blank lines
        or blocks that dispatched nothing. Empty before :meth:`end`.
        """
        return self._discarded

    def feed(self, data: bytes) -> None:
        """Add bytes received from the stream.

        Args:
            data: The next bytes, cut anywhere (inside a line, a UTF-8 sequence,
                or a CRLF). Empty bytes are ignored; they do not mean EOF.

        Raises:
            RuntimeError: :meth:`end` was already called.
        """
        if self._ended:
            raise RuntimeError("SSEDecoder.feed() called after end()")
        self._buf += data

    def end(self) -> None:
        """Say that the stream is over.

        A CR waiting to see whether an LF follows is taken as a line end, so an
        event ended by it becomes available. Items complete by now can still be
        taken with :meth:`next_event`; a block with no blank line after it is
        discarded (WHATWG: "If the file ends in the middle of an event, before the
        final empty line, the incomplete event is not dispatched"), and
        :attr:`cut` and :attr:`discarded` say what was lost. Calling it again does
        nothing.
        """
        if self._ended:
            return
        self._ended = True
        while (item := self._parse_next()) is not None:
            self._ready.append(item)
        self._cut = self._pos < len(self._buf)
        self._discarded = bytes(self._buf)
        self._buf.clear()
        self._pos = self._scan = 0

    def next_event(self) -> SSEEvent | SSEComment | NeedData:
        """Return the next complete item, or :data:`NEED_DATA`.

        Returns:
            An :class:`SSEEvent`, an :class:`SSEComment`, or :data:`NEED_DATA` when
            nothing complete is buffered (after :meth:`end`: when the stream is
            exhausted).
        """
        if self._ready:
            return self._ready.popleft()
        if self._ended:
            return NEED_DATA
        item = self._parse_next()
        return NEED_DATA if item is None else item

    def events(self) -> Iterator[SSEEvent | SSEComment]:
        """Yield items from :meth:`next_event` until it returns :data:`NEED_DATA`."""
        while True:
            item = self.next_event()
            if isinstance(item, SSEEvent | SSEComment):
                yield item
            else:
                return

    def _parse_next(self) -> SSEEvent | SSEComment | None:
        """Parse buffered blocks until one yields an item; ``None`` if none can."""
        buf = self._buf
        if self._bom_pending:
            if len(buf) < len(_BOM) and _BOM.startswith(buf) and not self._ended:
                return None  # could still become a BOM
            self._bom_pending = False
            if buf.startswith(_BOM):
                self._pos = self._scan = len(_BOM)
        while True:
            found = _NOT_EOL.search(buf, self._pos)
            pos = len(buf) if found is None else found.start()
            self._pos = pos
            if self._scan < pos:
                self._scan = pos
            match = _BLOCK_END.search(buf, self._scan)
            if match is None:
                self._scan = max(pos, len(buf) - _LOOKBACK)
                return None
            end = match.end()
            if end == len(buf) and buf[-1] == _CR and not self._ended:
                # The blank line ends in a CR that may be half of a CRLF: wait for
                # the next byte, so the LF lands in this raw and counts once.
                self._scan = match.start()
                return None
            item = self._parse_block(bytes(buf[pos : match.start()]), bytes(buf[:end]))
            if item is None:
                self._pos = self._scan = end
                continue
            del buf[:end]
            self._pos = self._scan = 0
            return item

    def _parse_block(self, block: bytes, raw: bytes) -> SSEEvent | SSEComment | None:
        """Interpret the non-blank lines of one block; ``raw`` goes into the item."""
        event: str | None = None
        data: list[str] = []
        event_id: str | None = None
        retry: int | None = None
        comments: list[str] = []
        for line in block.splitlines():
            name, _, value = line.partition(b":")
            # "If value starts with a U+0020 SPACE character, remove it from value."
            if value[:1] == b" ":
                value = value[1:]
            if not name:
                # "If the line starts with a U+003A COLON character (:) Ignore the line."
                comments.append(value.decode("utf-8", "replace"))
            elif name == b"data":
                data.append(value.decode("utf-8", "replace"))
            elif name == b"event":
                event = value.decode("utf-8", "replace") or None
            elif name == b"id":
                # "If the field value does not contain U+0000 NULL, then set the
                # last event ID buffer to the field value. Otherwise, ignore the field."
                if b"\0" not in value:
                    event_id = self._last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry":
                # "If the field value consists of only ASCII digits, then interpret
                # the field value as an integer in base ten ..."
                if value.isdigit():
                    retry = int(value)
            # "Otherwise: The field is ignored."
        if data or event or event_id or retry is not None:
            return SSEEvent(event=event, data="\n".join(data), id=event_id, retry=retry, raw=raw)
        if comments:
            return SSEComment(text="\n".join(comments), raw=raw)
        return None


class SSEDataReader:
    """The ``(event, data)`` of each event with data, for readers that need no more.

    A translating relay parses the data of every event but never needs ``raw``,
    ``id``, ``retry`` or comments, and upstreams send LF-only streams. So while the
    stream is LF-only, the bytes up to the last blank line are split at blank
    lines and each block's ``event`` and ``data`` lines are read directly (one
    ``event:`` line and one ``data:`` line, the shape every Anthropic event has,
    costs two slices). The first CR, or a BOM at the very start, hands the stream
    to :class:`SSEDecoder` from that point on. Either way the result is what
    :class:`SSEDecoder` dispatches, minus events whose data is empty.
    """

    __slots__ = ("_pending", "_decoder", "_fed")

    def __init__(self) -> None:
        self._pending = b""
        self._decoder: SSEDecoder | None = None
        self._fed = False

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The events ``chunk`` completes, in order."""
        decoder = self._decoder
        if decoder is None:
            if b"\r" not in chunk and (self._fed or chunk[:1] != b"\xef"):
                self._fed = True
                data = self._pending + chunk if self._pending else chunk
                cut = data.rfind(b"\n\n")
                if cut < 0:
                    self._pending = data
                    return []
                self._pending = data[cut + 2 :]
                out: list[tuple[str | None, str]] = []
                for block in data[:cut].split(b"\n\n"):
                    _read_block(block, out)
                return out
            decoder = self._decoder = SSEDecoder()
            decoder.feed(self._pending)
            self._pending = b""
        decoder.feed(chunk)
        return _dispatched(decoder)

    def end(self) -> list[tuple[str | None, str]]:
        """The stream ended: what is still complete (a partial last event is dropped)."""
        decoder = self._decoder
        if decoder is None:
            return []
        decoder.end()
        return _dispatched(decoder)  # an event whose blank line ended in a lone CR


def _read_block(block: bytes, out: list[tuple[str | None, str]]) -> None:
    """Append the event of one LF-only block (no blank line in it) if it has data."""
    if block.startswith(b"event: "):
        eol = block.find(b"\n")
        if eol > 0 and block.startswith(b"data: ", eol + 1) and block.find(b"\n", eol + 1) < 0:
            data = block[eol + 7 :]
            if data:
                name = block[7:eol].decode("utf-8", "replace") or None
                out.append((name, data.decode("utf-8", "replace")))
            return
    event: str | None = None
    lines: list[str] = []
    for line in block.split(b"\n"):
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            lines.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            event = value.decode("utf-8", "replace") or None
    if lines:
        text = "\n".join(lines)
        if text:
            out.append((event, text))


def _dispatched(decoder: SSEDecoder) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    while (item := decoder.next_event()) is not NEED_DATA:
        if isinstance(item, SSEEvent) and item.data:
            out.append((item.event, item.data))
    return out


COMMENT_PING = b": ping\n\n"
"""A keep-alive comment block; safe for Anthropic and OpenAI clients, not Gemini."""

_ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def anthropic_ping() -> bytes:
    """The Anthropic keep-alive event, exactly as the API sends it.

    Returns:
        ``event: ping\\ndata: {"type": "ping"}\\n\\n``.
    """
    return _ANTHROPIC_PING


def encode_event(data: str | bytes, event: str | None = None) -> bytes:
    """Serialise one event.

    Args:
        data: The payload. ``str`` is encoded as UTF-8; ``bytes`` are written as
            they are. Each line of it (split at CRLF, CR or LF) becomes one
            ``data:`` line, so a decoder gets it back with LF line breaks.
        event: The ``event:`` name, or ``None`` (or ``""``) for no ``event:`` line.

    Returns:
        ``event: <event>\\ndata: <line>\\n...\\n\\n``.

    Raises:
        ValueError: ``event`` contains a CR or LF, which would end the line early.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if b"\n" in payload or b"\r" in payload:
        body = b"".join([b"data: " + line + b"\n" for line in _SPLIT_LINES.split(payload)])
    else:
        body = b"data: " + payload + b"\n"
    if not event:
        return body + b"\n"
    if "\n" in event or "\r" in event:
        raise ValueError(f"an SSE event name cannot contain a line break: {event!r}")
    return b"event: " + event.encode("utf-8") + b"\n" + body + b"\n"
