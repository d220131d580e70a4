"""The upstream client's body readers (:mod:`llmproxy.upstream.framing`), sans-IO.

The property tests build a body, frame it the way a server may (any chunk sizes,
extensions, trailer fields), cut the wire bytes at arbitrary points as TCP may,
and check that the reader gives back exactly the body, knows where it ended and
keeps whatever followed it apart.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmproxy.upstream.framing import (
    MAX_LINE,
    ChunkedBody,
    FramingError,
    LengthBody,
    UntilClose,
    body_reader,
)


def frame(chunks: list[bytes], extensions: list[bytes], trailer: list[bytes], upper: bool) -> bytes:
    out = []
    for index, chunk in enumerate(chunks):
        size = b"%X" % len(chunk) if upper else b"%x" % len(chunk)
        extension = extensions[index % len(extensions)] if extensions else b""
        out.append(size + extension + b"\r\n" + chunk + b"\r\n")
    out.append(b"0\r\n" + b"".join(field + b"\r\n" for field in trailer) + b"\r\n")
    return b"".join(out)


def feed_in_pieces(reader: ChunkedBody | LengthBody, wire: bytes, cuts: list[int]) -> bytes:
    points = sorted({cut % (len(wire) + 1) for cut in cuts} | {0, len(wire)})
    body = []
    for start, end in zip(points, points[1:], strict=False):
        if end > start:
            body.append(reader.feed(wire[start:end]))
    return b"".join(body)


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=8),
    extensions=st.lists(st.sampled_from([b"", b";name=value", b" ;x", b';q="a b"']), max_size=3),
    trailer=st.lists(st.sampled_from([b"x-checksum: 1", b"server-timing: a;dur=1"]), max_size=2),
    upper=st.booleans(),
    after=st.binary(max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
def test_a_chunked_body_comes_back_whole_however_it_is_cut(
    chunks: list[bytes],
    extensions: list[bytes],
    trailer: list[bytes],
    upper: bool,
    after: bytes,
    cuts: list[int],
) -> None:
    reader = ChunkedBody()
    body = feed_in_pieces(reader, frame(chunks, extensions, trailer, upper) + after, cuts)
    assert body == b"".join(chunks)
    assert reader.done
    assert reader.leftover == after


def test_one_read_holding_several_chunks_returns_their_data_joined() -> None:
    reader = ChunkedBody()
    assert reader.feed(b"3\r\nabc\r\n2\r\nde\r\n") == b"abcde"
    assert not reader.done
    assert reader.feed(b"0\r\n\r\n") == b""
    assert reader.done and reader.leftover == b""


def test_a_chunk_that_fills_the_read_is_returned_without_a_copy() -> None:
    reader = ChunkedBody()
    reader.feed(b"a\r\n")
    data = b"0123456789"
    assert reader.feed(data) is data


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\n",  # not hex
        b"0x5\r\nhello\r\n",  # int() would take the prefix; HTTP does not
        b"+5\r\nhello\r\n",
        b"-1\r\n",
        b" 5\r\nhello\r\n",
        b"\r\n",  # no size at all
        b"5\r\nhelloXX",  # data not followed by CRLF
        b"5\r\nhello\rX",
        b"11111111111111111\r\n",  # 17 hex digits
    ],
)
def test_a_malformed_chunk_is_an_error_not_data(wire: bytes) -> None:
    with pytest.raises(FramingError):
        ChunkedBody().feed(wire)


def test_a_size_line_that_never_ends_is_refused() -> None:
    reader = ChunkedBody()
    reader.feed(b"1" * 10)
    with pytest.raises(FramingError, match="too long"):
        reader.feed(b";" + b"x" * MAX_LINE)


@pytest.mark.parametrize("wire", [b"", b"5\r\nhel", b"5\r\nhello\r\n", b"0\r\n", b"0\r\nx-a: 1\r\n"])
def test_eof_before_the_end_of_a_chunked_body_is_an_error(wire: bytes) -> None:
    reader = ChunkedBody()
    if wire:
        reader.feed(wire)
    with pytest.raises(FramingError, match="closed"):
        reader.feed(b"")


def test_a_sized_body_ends_at_its_length_and_keeps_what_follows() -> None:
    reader = LengthBody(5)
    assert reader.feed(b"he") == b"he"
    assert reader.feed(b"lloHTTP/1.1") == b"llo"
    assert reader.done and reader.leftover == b"HTTP/1.1"


def test_a_sized_body_cut_short_is_an_error() -> None:
    reader = LengthBody(5)
    reader.feed(b"he")
    with pytest.raises(FramingError, match="3 bytes before the end"):
        reader.feed(b"")


def test_an_unframed_body_ends_at_eof() -> None:
    reader = UntilClose()
    assert reader.feed(b"abc") == b"abc"
    assert not reader.done
    assert reader.feed(b"") == b""
    assert reader.done


@pytest.mark.parametrize(
    ("method", "status", "headers", "kind", "done"),
    [
        ("POST", 200, [(b"transfer-encoding", b"chunked")], ChunkedBody, False),
        ("POST", 200, [(b"content-length", b"12")], LengthBody, False),
        ("POST", 200, [(b"content-length", b"0")], LengthBody, True),
        ("POST", 200, [(b"content-type", b"text/plain")], UntilClose, False),
        ("HEAD", 200, [(b"content-length", b"12")], LengthBody, True),
        ("HEAD", 200, [(b"transfer-encoding", b"chunked")], LengthBody, True),
        ("GET", 204, [], LengthBody, True),
        ("GET", 304, [(b"content-length", b"40")], LengthBody, True),
    ],
)
def test_the_framing_follows_the_method_status_and_headers(
    method: str, status: int, headers: list[tuple[bytes, bytes]], kind: type, done: bool
) -> None:
    reader = body_reader(method, status, headers)
    assert type(reader) is kind
    assert reader.done is done
