"""One call to the Gemini API or Vertex AI, and what its failure means.

The routes build the URL and headers; :func:`open_call` sends the request and
returns the open response when the status is 200. Any other status is read,
classified by :func:`~.failures.classify`, and raised as:

- :class:`~llmproxy.chain.rotate.CredentialRejected` (the credential's fault:
  reported on the lease, the next credential is tried);
- :class:`~.rotation.Transient` (nobody's fault: the next credential is tried);
- :class:`~.rotation.GoogleError` (the request's fault: the client gets it).

A failure to connect at all is :class:`~.rotation.Transient` too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..chain.rotate import CredentialRejected
from ..credentials import Lease
from ..upstream.client import Client, Response, UpstreamUnreachable
from .failures import Blame, Failure, Holder, classify, google_error
from .keys import count_403
from .rotation import GoogleError, Transient

__all__ = ["error_from_event", "open_call", "rejection", "verbatim_error"]


def rejection(lease: Lease[Any], failure: Failure, status: int, raw: bytes) -> Exception:
    """The exception for a classified failure (see the module docstring)."""
    headers = {}
    if failure.retry_after is not None:
        headers["retry-after"] = str(max(1, int(failure.retry_after + 0.999)))
    error = GoogleError(
        failure.message, status=status, raw=raw, status_name=failure.status_name, headers=headers
    )
    if failure.blame is Blame.CREDENTIAL and failure.outcome is not None:
        if failure.count_403:
            lease.report(count_403())
        return CredentialRejected(failure.outcome, error)
    if failure.blame is Blame.TRANSIENT:
        return Transient(error)
    return error


async def open_call(
    client: Client,
    lease: Lease[Any],
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    content: bytes | None,
    holder: Holder,
    clock: Callable[[], float],
    on_token_refused: Callable[[], None] | None = None,
) -> Response:
    """Send one request; the open (streaming) response if it is a 200.

    The caller closes the response. ``on_token_refused`` runs when a service
    account's token was refused (401), so the next attempt fetches a new one.
    """
    try:
        response = await client.stream(method, url, headers=headers, content=content or b"")
    except UpstreamUnreachable as exc:
        message = f"the upstream could not be reached: {exc.message}"
        raise Transient(GoogleError(message, status=exc.status, raw=b"")) from None
    if response.status_code == 200:
        return response
    try:
        raw = await response.aread()
    except UpstreamUnreachable:
        raw = b""
    finally:
        await response.aclose()
    failure = classify(response.status_code, raw, response.headers, holder=holder, now=clock())
    if failure.forget_token and on_token_refused is not None:
        on_token_refused()
    raise rejection(lease, failure, response.status_code, raw)


def error_from_event(
    error: Mapping[str, Any], lease: Lease[Any], *, holder: Holder, clock: Callable[[], float]
) -> Exception:
    """The exception for an ``{"error": …}`` event seen before a stream was released."""
    inner = google_error(error)
    code = inner.get("code") if inner is not None else None
    status = code if isinstance(code, int) and 400 <= code <= 599 else 500
    raw = json.dumps(error, ensure_ascii=False, separators=(",", ":")).encode()
    failure = classify(status, raw, {}, holder=holder, now=clock())
    return rejection(lease, failure, status, raw)


def verbatim_error(error: GoogleError) -> bytes | None:
    """The upstream body of ``error`` if it is a Google error object a client can read."""
    try:
        body = json.loads(error.raw) if error.raw else None
    except ValueError:
        return None
    if google_error(body) is None:
        return None
    if isinstance(body, list):  # the OpenAI-compatible endpoint's one-element array
        return json.dumps(body[0], ensure_ascii=False, separators=(",", ":")).encode()
    return error.raw
