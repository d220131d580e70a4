"""How long the proxy takes to forward a streamed byte once it has arrived.

nginx sends the first event together with the response head, so the time from a
request to its first streamed byte through the proxy also holds everything the
proxy does with the *request* (parsing, auth, picking a credential, building the
upstream request). Issue 8 asks for that separately ("added latency at c=1"); its
"first streamed byte forwarded within 1 ms of its arrival" is the other half: from
the moment the upstream sends the first event to the moment the client has it.

This fake Messages API makes that moment the driver's choice. It reads a request,
reports it, and sends nothing until the driver opens the gate; then it writes the
response head and ``message_start`` in one write, and the other 50 events and the
end in a second. The driver notes the time, opens the gate and times the first
byte at the client, once straight to this upstream and once through a proxy whose
``rproxy`` points here; the difference of the medians is what the proxy adds to the
hop. Client and upstream run in the same trio loop on the driver's CPU, so the
scheduling between "gate opened" and "bytes written" is in both figures and cancels.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping

import h11
import trio

from . import payloads
from .client import Connection, Response

__all__ = ["GatedUpstream", "forward_delays"]

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"request-id: req_bench_gated\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class GatedUpstream:
    """Answers each ``POST /v1/messages`` with the benchmark stream, when let.

    Create it (it binds a port at once, so a proxy can be configured with
    :attr:`port`), then run :meth:`serve` in a nursery.
    """

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port: int = self.listener.getsockname()[1]
        events = payloads.sse_events()
        self._first = _HEAD + _chunk(events[0])
        self._rest = b"".join(_chunk(event) for event in events[1:]) + b"0\r\n\r\n"
        self._arrived_send, self.arrived = trio.open_memory_channel[None](1)
        self._gate_send, self._gate = trio.open_memory_channel[None](1)

    async def open_gate(self) -> None:
        """Let the waiting request have its first event."""
        await self._gate_send.send(None)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.listener))
        async with listener, trio.open_nursery() as nursery:
            task_status.started()
            while True:
                stream = await listener.accept()
                nursery.start_soon(self._connection, stream)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.EndOfMessage):
                    await self._arrived_send.send(None)
                    await self._gate.receive()
                    await stream.send_all(self._first)
                    await stream.send_all(self._rest)
                    # h11 is not told what we wrote by hand: start its next cycle afresh.
                    conn = h11.Connection(h11.SERVER)
                elif isinstance(event, h11.ConnectionClosed):
                    return


async def forward_delays(
    upstream: GatedUpstream,
    targets: Mapping[str, tuple[int, str, Mapping[str, str], bytes, Callable[[bytes], object]]],
    samples: int,
) -> dict[str, list[float]]:
    """Seconds from "gate opened" to the first byte at the client, per target.

    Args:
        upstream: Not yet serving; served here.
        targets: name -> (port, path, headers, body, check of the whole body).
        samples: Timed requests per target, one after another on one connection,
            after one untimed request that opens the connections on the way.
    """
    out: dict[str, list[float]] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(upstream.serve)
        for name, (port, path, headers, body, check) in targets.items():
            connection = await Connection.open(port)
            delays: list[float] = []
            try:
                for index in range(samples + 1):
                    response, opened = await _gated_request(
                        upstream, connection, path, headers, body
                    )
                    if response.status != 200:
                        shown = response.body[:200]
                        raise RuntimeError(f"{name}: status {response.status}: {shown!r}")
                    check(response.body)
                    if index:
                        delays.append(response.sent_at + response.first_byte - opened)
            finally:
                await connection.aclose()
            out[name] = delays
        nursery.cancel_scope.cancel()
    return out


async def _gated_request(
    upstream: GatedUpstream,
    connection: Connection,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[Response, float]:
    """One request; the gate opens once the upstream has the whole of it."""
    result: list[Response] = []

    async def send() -> None:
        result.append(await connection.request("POST", path, headers, body))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await upstream.arrived.receive()
        opened = time.perf_counter()
        await upstream.open_gate()
    return result[0], opened
