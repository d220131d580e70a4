"""Credential rotation: lease a credential, try the upstream, move on if it was the credential's fault.

The loop makes up to ``max_retries + 1`` attempts. An attempt is an upstream
adapter call that either completes the response (streaming included: the lease
is held until the last byte, an error or a disconnect) or raises:

- :class:`CredentialRejected` — the upstream refused *this credential* (401,
  429, disabled or banned account, OAuth not allowed) before anything reached the
  client. The outcome is reported on the lease (parking or retiring it, or
  marking it unable to use this route) and the next credential is tried.
- anything else — not the credential's fault; it goes to the client as it is.

Once the response has started, nothing is retried: a rejection that arrives
then is answered as the upstream's error (an error event on a stream).

When no credential can serve, the client gets a 503 whose ``Retry-After`` is
the time to the earliest reset, rather than ClewdR's 500/504.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..credentials import Lease, Outcome, Pool, PoolRecord
from ..errors import UpstreamError

if TYPE_CHECKING:
    from ..asgi.request import Request

__all__ = ["CredentialRejected", "with_credential"]

R = TypeVar("R", bound=PoolRecord)
T = TypeVar("T")


class CredentialRejected(Exception):
    """An upstream attempt failed because of the credential it used.

    Attributes:
        outcome: What to report on the lease (from ``classify_failure``).
        error: The upstream's error, answered to the client if no retry follows.
    """

    def __init__(self, outcome: Outcome[Any], error: UpstreamError) -> None:
        super().__init__(error.message)
        self.outcome = outcome
        self.error = error


async def with_credential(
    request: Request,
    pool: Pool[R],
    route: str,
    attempt: Callable[[Lease[R]], Awaitable[T]],
    *,
    max_retries: int,
    sticky_key: str | None = None,
) -> T:
    """Run ``attempt`` with credentials from ``pool`` until one is not rejected.

    Args:
        request: The exchange; its ``credential`` is set for the log line, and
            its ``started`` flag stops retries once a byte went out.
        pool: Where credentials come from.
        route: The route/capability name the credential must be able to serve.
        attempt: One upstream try with a leased credential.
        max_retries: Extra attempts after the first.
        sticky_key: Prompt-cache affinity key, if the request has one.

    Raises:
        NoCredentialAvailable: nothing in the pool can serve now (503, with
            Retry-After when a resting credential will come back).
        UpstreamError: the last rejection, when every attempt was used while
            credentials remained.
    """
    tried: list[str] = []
    last: CredentialRejected | None = None
    for _ in range(max_retries + 1):
        lease = pool.acquire_nowait(route, sticky_key, exclude=tried)
        tried.append(lease.key)
        with lease:
            request.credential = lease.masked
            try:
                return await attempt(lease)
            except CredentialRejected as rejected:
                lease.report(rejected.outcome)
                if request.started:
                    raise rejected.error from None
                last = rejected
    assert last is not None
    raise last.error
