"""The Gemini retry loop: another credential after a rejection, an empty answer or a hiccup.

It is :func:`llmproxy.chain.rotate.with_credential` with two additions the
Gemini routes need, which is why it is its own loop:

- **Empty answers** (no candidates, ``finishReason: OTHER``) are retried on
  another credential (ClewdR's "retry empty replies", issue #30). The attempt
  raises :class:`EmptyAnswer` carrying the answer; if no later attempt does
  better, that answer is what the client gets (it is an answer, not an error).
- **Keep-alive whitespace is not an answer.** A non-stream request that waits
  long gets leading blanks (valid JSON) after its ``200`` went out; the
  generic loop stops retrying once a status is sent, this one goes on until
  the first byte of the answer itself. Attempts only ever raise before they
  write any answer byte, so the loop needs no flag for it.

Also :class:`Transient` (a 5xx, a dropped connection before any byte) moves on
to the next credential without blaming the one that got it.

What the client gets when the attempts are used up, in order: the last empty
answer; else the last upstream error (Google's own body, so its ``RetryInfo``
survives); else, when no credential could even be tried, the pool's 503 with
``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from ..chain.rotate import CredentialRejected
from ..credentials import Lease, Pool, PoolRecord
from ..errors import NoCredentialAvailable, UpstreamError

if TYPE_CHECKING:
    from ..asgi.request import Request

__all__ = ["EmptyAnswer", "GoogleError", "Reply", "Transient", "rotate"]

R = TypeVar("R", bound=PoolRecord)


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response, ready to send."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class GoogleError(UpstreamError):
    """A Google error answer, kept whole so a Gemini client gets it verbatim.

    Attributes:
        raw: The upstream body.
        status_name: Google's ``status`` (``RESOURCE_EXHAUSTED``…), if given.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        raw: bytes,
        status_name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, upstream_type=status_name, headers=headers)
        self.raw = raw
        self.status_name = status_name


class EmptyAnswer(Exception):
    """The upstream answered, but with nothing in it; ``reply`` is that answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("empty answer")
        self.reply = reply


class Transient(Exception):
    """An upstream failure that is nobody's fault; ``error`` is what the client gets."""

    def __init__(self, error: UpstreamError) -> None:
        super().__init__(error.message)
        self.error = error


async def rotate(
    request: Request,
    pool: Pool[R],
    route: str,
    attempt: Callable[[Lease[R]], Awaitable[Reply | None]],
    *,
    max_retries: int,
) -> Reply | None:
    """Run ``attempt`` with credentials from ``pool`` until one gives an answer.

    Args:
        request: The exchange (its ``credential`` is set for the log line).
        pool: Where credentials come from.
        route: The route name the credential must be allowed on.
        attempt: One upstream try; returns a reply to send, or ``None`` when it
            already sent the response (a relayed stream).
        max_retries: Extra attempts after the first.

    Returns:
        The reply to send, or ``None`` if it was sent.

    Raises:
        NoCredentialAvailable: no credential could be tried at all.
        UpstreamError: the last upstream error, when every attempt failed.
    """
    tried: list[str] = []
    empty: Reply | None = None
    last: UpstreamError | None = None
    for _ in range(max_retries + 1):
        try:
            lease = pool.acquire_nowait(route, exclude=tried)
        except NoCredentialAvailable:
            if empty is not None or last is not None:
                break
            raise
        tried.append(lease.key)
        with lease:
            request.credential = lease.masked
            try:
                return await attempt(lease)
            except CredentialRejected as rejected:
                lease.report(rejected.outcome)
                last = rejected.error
            except EmptyAnswer as answer:
                empty = answer.reply
            except Transient as transient:
                last = transient.error
            if request.streaming:  # never: attempts raise only before they write
                break
    if empty is not None:
        return empty
    assert last is not None
    raise last
