"""Wire formats, sans-IO: bytes and dicts in, bytes and dicts out.

Nothing in this package imports trio, anyio or httpx, and nothing awaits; the
routes and upstream adapters do the reading and writing around it.

Where things are::

    sse.py             text/event-stream: the incremental decoder (h11-shaped:
                       feed, next_event, NEED_DATA, end), a lean reader of just
                       each event's name and data, and the event encoder
    stop_sequences.py  proxy-side stop sequences over text and canonical events
    accumulate.py      canonical events folded into one Messages API ``Message``
    estimate.py        local token estimates (no tokenizer download)

Only the SSE names are re-exported here; import the others from their modules
(the package stays cheap to import at start-up).
"""

from llmproxy.wire.sse import COMMENT_PING as COMMENT_PING
from llmproxy.wire.sse import NEED_DATA as NEED_DATA
from llmproxy.wire.sse import NeedData as NeedData
from llmproxy.wire.sse import SSEComment as SSEComment
from llmproxy.wire.sse import SSEDataReader as SSEDataReader
from llmproxy.wire.sse import SSEDecoder as SSEDecoder
from llmproxy.wire.sse import SSEEvent as SSEEvent
from llmproxy.wire.sse import anthropic_ping as anthropic_ping
from llmproxy.wire.sse import encode_event as encode_event

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
