"""The fake-upstream scaffold itself: real HTTP, streamed events, breaks, disconnects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from tests.fakes.server import FakeUpstream, Recorded, Reply, serve, sse_event


def make_fake() -> tuple[FakeUpstream, dict[str, trio.Event]]:
    fake = FakeUpstream()
    gates = {"second": trio.Event(), "sent_first": trio.Event()}

    @fake.route("POST", "/json")
    async def json_reply(request: Recorded) -> Reply:
        return Reply.json({"echo": request.json(), "auth": request.headers.get("x-api-key")}, 201)

    @fake.route("GET", "/gated")
    async def gated(request: Recorded) -> Reply:
        async def events() -> AsyncIterator[bytes]:
            yield sse_event({"n": 1}, "first")
            gates["sent_first"].set()
            await gates["second"].wait()
            yield sse_event({"n": 2}, "second")

        return Reply.sse(events())

    @fake.route("GET", "/broken")
    async def broken(request: Recorded) -> Reply:
        return Reply.sse([sse_event({"n": 1}, "first")], break_after=True)

    @fake.route("GET", "/models/", prefix=True)
    async def prefixed(request: Recorded) -> Reply:
        return Reply.json({"path": request.path, "query": request.query})

    return fake, gates


async def test_json_reply_and_recording() -> None:
    fake, _ = make_fake()
    async with serve(fake) as base, httpx.AsyncClient() as client:
        response = await client.post(f"{base}/json", json={"a": 1}, headers={"x-api-key": "k"})
        prefixed = await client.get(f"{base}/models/x:generate?alt=sse")
        missing = await client.get(f"{base}/nothing")
    assert response.status_code == 201
    assert response.json() == {"echo": {"a": 1}, "auth": "k"}
    assert prefixed.json() == {"path": "/models/x:generate", "query": {"alt": "sse"}}
    assert missing.status_code == 404
    assert [r.path for r in fake.requests] == ["/json", "/models/x:generate", "/nothing"]
    assert fake.requests[0].headers["content-type"] == "application/json"


async def test_events_arrive_one_at_a_time() -> None:
    """The first event reaches the client while the second is still held back."""
    fake, gates = make_fake()
    async with serve(fake) as base, httpx.AsyncClient() as client:
        async with client.stream("GET", f"{base}/gated") as response:
            chunks = response.aiter_raw()
            first = await chunks.__anext__()
            assert first == b"event: first\ndata: {\"n\":1}\n\n"
            assert not gates["second"].is_set()
            gates["second"].set()
            rest = b"".join([chunk async for chunk in chunks])
    assert rest == b"event: second\ndata: {\"n\":2}\n\n"


async def test_broken_stream_is_cut_not_closed() -> None:
    fake, _ = make_fake()
    async with serve(fake) as base, httpx.AsyncClient() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream("GET", f"{base}/broken") as response:
                async for _ in response.aiter_raw():
                    pass


async def test_client_hangup_is_recorded_as_cancelled() -> None:
    fake, gates = make_fake()
    async with serve(fake) as base, httpx.AsyncClient() as client:
        async with client.stream("GET", f"{base}/gated") as response:
            await response.aiter_raw().__anext__()
        # leaving the block closes the connection while the fake waits on the gate
        with trio.fail_after(10):
            await fake.requests[0].finished.wait()
    assert fake.requests[0].cancelled


async def test_a_stream_read_to_the_end_is_not_cancelled() -> None:
    fake, gates = make_fake()
    gates["second"].set()
    async with serve(fake) as base, httpx.AsyncClient() as client:
        for _ in range(5):
            response = await client.get(f"{base}/gated")
            assert response.content.endswith(b"event: second\ndata: {\"n\":2}\n\n")
        with trio.fail_after(10):
            for recorded in fake.requests:
                await recorded.finished.wait()
    assert not any(r.cancelled for r in fake.requests)
